using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Fahrtenbuch.Server.Live;

/// <summary>
/// Fan-out across instances over one Redis pub/sub channel (docs/adr/0006-redis-fan-out.md). Local commits reach local
/// subscribers at once, in-process, and are published for the other instances, which ignore nothing but their own echoes.
/// Redis may drop messages (reconnects, a restart): the feeds fill any gap before a later event from the log, and the
/// head check fills a lost <em>last</em> message, which no later event would reveal.
/// </summary>
public sealed partial class RedisLiveTransport : BackgroundService, ILiveTransport
{
    private readonly InProcessLiveTransport _local;
    private readonly Guid _origin = Guid.NewGuid();
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Watched> _watched = [];
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly IConnectionMultiplexer _redis;
    private readonly LiveEventStore _store;
    private readonly RedisOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisLiveTransport> _logger;
    private readonly RedisChannel _channel;

    public RedisLiveTransport(
        IConnectionMultiplexer redis, LiveEventStore store, IOptions<RedisOptions> options, TimeProvider time, ILogger<RedisLiveTransport> logger, ILogger<InProcessLiveTransport> localLogger)
    {
        _local = new InProcessLiveTransport(localLogger);
        _redis = redis;
        _store = store;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _channel = RedisChannel.Literal(_options.Channel);
    }

    public void Publish(Guid companyId, IReadOnlyList<EventRecord> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        Advance(companyId, events[^1].Position);
        _local.Publish(companyId, events);
        _ = PublishAsync(RedisLiveMessage.Encode(_origin, companyId, events), events.Count);
    }

    public IDisposable Subscribe(Guid companyId, Action<IReadOnlyList<LiveEvent>> onEvents)
    {
        lock (_gate)
        {
            if (!_watched.TryGetValue(companyId, out var watched))
            {
                _watched[companyId] = watched = new Watched();
            }

            watched.Subscribers++;
        }

        return new Subscription(this, companyId, _local.Subscribe(companyId, onEvents));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _redis.ConnectionRestored += OnConnectionRestored;
        try
        {
            await SubscribeChannelAsync(stoppingToken);
            await CheckHeadsLoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            _redis.ConnectionRestored -= OnConnectionRestored;
        }
    }

    // The multiplexer re-subscribes by itself after a reconnect; only the first subscription needs a reachable Redis.
    private async Task SubscribeChannelAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                var queue = await _redis.GetSubscriber().SubscribeAsync(_channel);
                queue.OnMessage(Receive);
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogSubscribeFailed(e);
                await Task.Delay(_options.HeadCheck, _time, stoppingToken);
            }
        }
    }

    private async Task PublishAsync(byte[] payload, int count)
    {
        try
        {
            await _redis.GetSubscriber().PublishAsync(_channel, payload);
            Telemetry.RedisPublished.Add(count);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The other instances' head checks find these events in the log.
            LogPublishFailed(e);
        }
    }

    private void Receive(ChannelMessage message)
    {
        RedisLiveMessage? decoded;
        try
        {
            decoded = JsonSerializer.Deserialize<RedisLiveMessage>((byte[])message.Message!, RedisLiveMessage.Json);
        }
        catch (JsonException e)
        {
            LogUndecodable(e);
            return;
        }

        if (decoded is null || decoded.Origin == _origin || decoded.Events.Count == 0)
        {
            return;
        }

        Telemetry.RedisReceived.Add(decoded.Events.Count);
        if (Advance(decoded.CompanyId, decoded.Events[^1].Position))
        {
            _local.Publish(decoded.CompanyId, decoded.Events.ConvertAll(e => e.ToRecord(decoded.CompanyId)));
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _wake.Writer.TryWrite(true);

    private async Task CheckHeadsLoopAsync(CancellationToken stoppingToken)
    {
        Task<bool>? wake = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            wake ??= _wake.Reader.WaitToReadAsync(stoppingToken).AsTask();
            await Task.WhenAny(wake, Task.Delay(_options.HeadCheck, _time, stoppingToken));
            if (wake.IsCompleted)
            {
                _wake.Reader.TryRead(out _);
                wake = null;
            }

            try
            {
                await CheckHeadsAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogHeadCheckFailed(e);
            }
        }
    }

    /// <summary>Delivers, from the log, whatever is committed beyond the last position this instance handed to its subscribers.</summary>
    internal async Task CheckHeadsAsync(CancellationToken cancellationToken)
    {
        Dictionary<Guid, long> known;
        lock (_gate)
        {
            known = _watched.ToDictionary(w => w.Key, w => w.Value.Known);
        }

        if (known.Count == 0)
        {
            return;
        }

        var heads = await _store.HeadsAsync(known.Keys, cancellationToken);
        foreach (var (companyId, head) in heads)
        {
            var last = known[companyId];
            if (head <= last)
            {
                continue;
            }

            // A company seen for the first time gets its head event only: a feed behind it fills the rest itself.
            var after = last < 0 ? head - 1 : last;
            var filled = 0;
            while (after < head)
            {
                var batch = await _store.ReadAsync(companyId, after, head + 1, 500, cancellationToken);
                if (batch.Count == 0)
                {
                    break;
                }

                after = batch[^1].Position;
                filled += batch.Count;
                Advance(companyId, after);
                _local.Deliver(companyId, batch);
            }

            if (last >= 0 && filled > 0)
            {
                Telemetry.LiveGapFills.Add(filled);
                LogGapFilled(filled, companyId, head);
            }
        }
    }

    /// <summary>Raises the company's known position; false when nobody here subscribes to the company.</summary>
    private bool Advance(Guid companyId, long position)
    {
        lock (_gate)
        {
            if (!_watched.TryGetValue(companyId, out var watched))
            {
                return false;
            }

            watched.Known = Math.Max(watched.Known, position);
            return true;
        }
    }

    private void Unsubscribe(Guid companyId)
    {
        lock (_gate)
        {
            if (_watched.TryGetValue(companyId, out var watched) && --watched.Subscribers == 0)
            {
                _watched.Remove(companyId);
            }
        }
    }

    [LoggerMessage(LogLevel.Warning, "Subscribing to the Redis fan-out channel failed; retrying")]
    private partial void LogSubscribeFailed(Exception e);

    [LoggerMessage(LogLevel.Warning, "Publishing to the Redis fan-out channel failed; other instances read these events from the log")]
    private partial void LogPublishFailed(Exception e);

    [LoggerMessage(LogLevel.Warning, "Ignored an undecodable message on the Redis fan-out channel")]
    private partial void LogUndecodable(Exception e);

    [LoggerMessage(LogLevel.Warning, "The live head check failed; retrying")]
    private partial void LogHeadCheckFailed(Exception e);

    [LoggerMessage(LogLevel.Information, "Delivered {Count} events of company {CompanyId} up to position {Head} from the log: their Redis messages were lost")]
    private partial void LogGapFilled(int count, Guid companyId, long head);

    private sealed class Watched
    {
        public int Subscribers;

        // -1 until the first event or head check: nothing delivered yet.
        public long Known = -1;
    }

    private sealed class Subscription(RedisLiveTransport owner, Guid companyId, IDisposable local) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                local.Dispose();
                owner.Unsubscribe(companyId);
            }
        }
    }
}

/// <summary>One committed transaction on the Redis channel: who published it (to drop echoes), the company and its events.</summary>
internal sealed record RedisLiveMessage(Guid Origin, Guid CompanyId, List<RedisLiveRecord> Events)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public static byte[] Encode(Guid origin, Guid companyId, IReadOnlyList<EventRecord> events) =>
        JsonSerializer.SerializeToUtf8Bytes(
            new RedisLiveMessage(origin, companyId, [.. events.Select(e => new RedisLiveRecord(
                e.Position, e.Type, e.OccurredAt, e.Data, e.RestrictedData, e.Audience, e.VehicleId, e.TripId, e.OwnerId))]),
            Json);
}

internal sealed record RedisLiveRecord(
    long Position, string Type, DateTimeOffset OccurredAt, string Data, string? RestrictedData, EventAudience Audience, Guid? VehicleId, Guid? TripId, Guid? OwnerId)
{
    public EventRecord ToRecord(Guid companyId) =>
        new(companyId, Position, Type, OccurredAt, Data, RestrictedData, Audience, VehicleId, TripId, OwnerId);
}
