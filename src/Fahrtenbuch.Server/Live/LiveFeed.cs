using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>Who is listening: the visibility rule needs the user, the company and whether they see the whole company.</summary>
public sealed record LiveViewer(Guid UserId, Guid CompanyId, bool SeesWholeCompany, Guid SessionId)
{
    public static LiveViewer From(CurrentUser user) => new(user.Id, user.CompanyId, user.SeesWholeCompany, user.SessionId);
}

/// <summary>Optional narrowing of a stream; it only ever drops events, never widens what the viewer may see.</summary>
public sealed record LiveFilter(Guid? VehicleId = null, bool Mine = false)
{
    public bool Matches(LiveEvent e, LiveViewer viewer) =>
        (VehicleId is null || e.VehicleId == VehicleId) && (!Mine || e.OwnerId == viewer.UserId);
}

public enum LiveItemKind
{
    Event,
    Heartbeat,
    Reset,
    Shutdown,
}

/// <summary>
/// What a stream writes next: an event in the form the viewer may see, a heartbeat, or a control notice.
/// <see cref="Replayed"/> marks events the client missed before it connected (read back from the log; no delivery lag).
/// Events committed after it subscribed count as live even when the catch-up read them.
/// </summary>
public readonly record struct LiveItem(LiveItemKind Kind, long Position, LiveEvent? Event = null, bool Full = false, bool Replayed = false);

/// <summary>Where a stream starts: it has everything up to <paramref name="After"/>; <paramref name="Reset"/> when it must reload first.</summary>
internal readonly record struct LiveStart(long After, long Head, bool Reset);

/// <summary>Reads the company's log from the database (replay and gap filling).</summary>
// The transport is resolved on first use: the Redis transport itself reads the log through this store.
public sealed class LiveEventStore(IServiceScopeFactory scopes, IServiceProvider services, IOptions<LiveOptions> options) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, (RecentEvents Events, IDisposable Subscription)> _recent = [];

    /// <summary>
    /// The last committed position and the oldest position still retained (head + 1 when the log is empty), for a reader
    /// that resumes after <paramref name="after"/> (null: from the head). The in-memory tail answers when it covers
    /// <paramref name="after"/>: its head may trail the database's by events still on their way, which the reader then
    /// gets live, and everything after <paramref name="after"/> is in it. Otherwise the database answers.
    /// </summary>
    public async Task<(long Head, long Oldest)> BoundsAsync(Guid companyId, long? after, CancellationToken cancellationToken)
    {
        if (Recent(companyId) is { } recent && recent.TryBounds(after, out var bounds))
        {
            return bounds;
        }

        await using var scope = Scope(companyId, out var db);
        var head = await db.Companies.Where(c => c.Id == companyId).Select(c => c.LogHead).SingleAsync(cancellationToken);
        var oldest = await db.Events.MinAsync(e => (long?)e.Position, cancellationToken);
        return (head, oldest ?? head + 1);
    }

    /// <summary>The last committed position of each of the given companies (one query for all of them).</summary>
    public async Task<Dictionary<Guid, long>> HeadsAsync(IReadOnlyCollection<Guid> companyIds, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await db.Companies.Where(c => companyIds.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.LogHead, cancellationToken);
    }

    /// <summary>Events after <paramref name="after"/> and before <paramref name="before"/> (when given), in log order.</summary>
    public async Task<List<LiveEvent>> ReadAsync(Guid companyId, long after, long? before, int take, CancellationToken cancellationToken)
    {
        if (Recent(companyId) is { } recent && recent.TryRead(after, before, take, out var cached))
        {
            return cached;
        }

        await using var scope = Scope(companyId, out var db);
        var records = await db.Events.AsNoTracking()
            .Where(e => e.Position > after && (before == null || e.Position < before))
            .OrderBy(e => e.Position)
            .Take(take)
            .ToListAsync(cancellationToken);
        return records.ConvertAll(r => new LiveEvent(r));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (_, subscription) in _recent.Values)
            {
                subscription.Dispose();
            }

            _recent.Clear();
        }
    }

    /// <summary>The in-memory tail of a company's log; it starts filling when the company's first stream reads.</summary>
    private RecentEvents? Recent(Guid companyId)
    {
        var capacity = options.Value.ReplayCacheEvents;
        if (capacity == 0)
        {
            return null;
        }

        lock (_gate)
        {
            if (!_recent.TryGetValue(companyId, out var entry))
            {
                var events = new RecentEvents(capacity);
                entry = (events, services.GetRequiredService<ILiveTransport>().Subscribe(companyId, events.Add));
                _recent[companyId] = entry;
            }

            return entry.Events;
        }
    }

    private AsyncServiceScope Scope(Guid companyId, out AppDbContext db)
    {
        var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = companyId;
        db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return scope;
    }
}

/// <summary>
/// The last events of one company as the transport delivered them, kept only while contiguous: a jump in
/// positions (a message the transport lost) restarts the window, so a read from here never skips an event.
/// Reads that start before the window (or after it) go to the database.
/// </summary>
internal sealed class RecentEvents(int capacity)
{
    private readonly Lock _gate = new();
    private readonly LiveEvent[] _ring = new LiveEvent[capacity];
    private long _first;
    private long _last;

    public void Add(IReadOnlyList<LiveEvent> events)
    {
        lock (_gate)
        {
            foreach (var e in events)
            {
                if (_last != 0 && e.Position <= _last)
                {
                    continue;
                }

                if (_last == 0 || e.Position != _last + 1)
                {
                    _first = e.Position;
                }

                _last = e.Position;
                _ring[e.Position % capacity] = e;
                _first = Math.Max(_first, _last - capacity + 1);
            }
        }
    }

    /// <summary>The window's last and first position, when it holds events and covers a read after <paramref name="after"/>.</summary>
    public bool TryBounds(long? after, out (long Head, long Oldest) bounds)
    {
        lock (_gate)
        {
            bounds = (_last, _first);
            return _last != 0 && (after is null || (after >= _first - 1 && after <= _last));
        }
    }

    public bool TryRead(long after, long? before, int take, out List<LiveEvent> events)
    {
        lock (_gate)
        {
            if (_last == 0 || after + 1 < _first || after + 1 > _last)
            {
                events = [];
                return false;
            }

            var end = Math.Min(Math.Min(_last, (before ?? long.MaxValue) - 1), after + take);
            events = new List<LiveEvent>((int)Math.Max(0, end - after));
            for (var position = after + 1; position <= end; position++)
            {
                events.Add(_ring[position % capacity]);
            }

            return true;
        }
    }
}

/// <summary>
/// One subscriber's view of the log: it subscribes to the transport first (into a bounded queue), replays
/// what the client missed from the database, then delivers live events. Every event is checked against
/// the position last handled: older ones are skipped, a jump is filled from the database, so the seam
/// between replay and live (and any message the transport lost) never yields a gap or a duplicate.
/// </summary>
public sealed class LiveFeed(ILiveTransport transport, LiveEventStore store, IOptions<LiveOptions> options, TimeProvider time, IHostApplicationLifetime lifetime)
{
    private readonly LiveOptions _options = options.Value;

    /// <summary>
    /// The items for one client after <paramref name="lastEventId"/> (its last seen position; null streams from now on).
    /// <paramref name="slowConsumer"/> runs on the publisher's thread when the live queue overflows and must disconnect the client.
    /// </summary>
    public async IAsyncEnumerable<LiveItem> ReadAsync(
        LiveViewer viewer, LiveFilter filter, string? lastEventId, Action slowConsumer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var queue = Channel.CreateBounded<LiveEvent>(new BoundedChannelOptions(_options.SubscriberQueueLength)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var overflowed = 0;
        var live = 0;
        using var subscription = transport.Subscribe(viewer.CompanyId, events =>
        {
            foreach (var e in events)
            {
                if (!queue.Writer.TryWrite(e) && Interlocked.Exchange(ref overflowed, 1) == 0 && Volatile.Read(ref live) == 1)
                {
                    Telemetry.LiveQueueDrops.Add(1);
                    slowConsumer();
                }
            }
        });

        var start = await StartAsync(viewer, lastEventId, cancellationToken);
        var (sent, head) = (start.After, start.Head);
        if (start.Reset)
        {
            yield return new LiveItem(LiveItemKind.Reset, sent);
        }

        // Catch up from the log. A queue that overflows meanwhile is emptied: everything it dropped is in the database.
        while (true)
        {
            if (Interlocked.Exchange(ref overflowed, 0) == 1)
            {
                while (queue.Reader.TryRead(out _))
                {
                }
            }

            var batch = await store.ReadAsync(viewer.CompanyId, sent, null, _options.ReplayBatchSize, cancellationToken);
            if (batch.Count > 0 && batch[0].Position != sent + 1)
            {
                // Pruned while we were away: the client cannot get a complete history any more.
                sent = batch[0].Position - 1;
                yield return new LiveItem(LiveItemKind.Reset, sent);
            }

            foreach (var e in batch)
            {
                sent = e.Position;
                if (EndsStream(e, viewer))
                {
                    yield break;
                }

                if (filter.Matches(e, viewer))
                {
                    yield return new LiveItem(LiveItemKind.Event, e.Position, e, e.SeesFull(viewer), Replayed: e.Position <= head);
                }
            }

            // A short batch ends the replay once the head seen at subscription is reached (a batch from memory can end
            // before it while the last commit is still being published); an empty read means the database has nothing more.
            if (batch.Count == 0 || (batch.Count < _options.ReplayBatchSize && sent >= head))
            {
                Volatile.Write(ref live, 1);
                if (Volatile.Read(ref overflowed) == 0)
                {
                    break;
                }

                Volatile.Write(ref live, 0);
            }
        }

        var stopping = lifetime.ApplicationStopping;
        using var waiter = new IdleWaiter(_options.Heartbeat, time, stopping, cancellationToken);
        while (true)
        {
            if (!queue.Reader.TryRead(out var next))
            {
                var outcome = await waiter.WaitAsync(queue.Reader);
                if (outcome == WaitOutcome.Stopping)
                {
                    // What was committed before the server began to stop goes out before the notice, as on SSE: the
                    // fan-out loop may still hold the last commits, the log has them.
                    List<LiveEvent> committed;
                    while ((committed = await store.ReadAsync(viewer.CompanyId, sent, null, _options.ReplayBatchSize, cancellationToken)).Count > 0)
                    {
                        foreach (var e in committed)
                        {
                            sent = e.Position;
                            if (EndsStream(e, viewer))
                            {
                                yield break;
                            }

                            if (filter.Matches(e, viewer))
                            {
                                yield return new LiveItem(LiveItemKind.Event, e.Position, e, e.SeesFull(viewer), Replayed: false);
                            }
                        }
                    }

                    yield return new LiveItem(LiveItemKind.Shutdown, sent);
                    yield break;
                }

                if (outcome == WaitOutcome.Idle)
                {
                    yield return new LiveItem(LiveItemKind.Heartbeat, sent);
                }

                continue;
            }

            if (next.Position <= sent)
            {
                continue;
            }

            while (next.Position > sent + 1)
            {
                var missing = await store.ReadAsync(viewer.CompanyId, sent, next.Position, _options.ReplayBatchSize, cancellationToken);
                if (missing.Count == 0 || missing[0].Position != sent + 1)
                {
                    sent = next.Position - 1;
                    yield return new LiveItem(LiveItemKind.Reset, sent);
                    break;
                }

                foreach (var e in missing)
                {
                    sent = e.Position;
                    if (EndsStream(e, viewer))
                    {
                        yield break;
                    }

                    if (filter.Matches(e, viewer))
                    {
                        yield return new LiveItem(LiveItemKind.Event, e.Position, e, e.SeesFull(viewer));
                    }
                }
            }

            sent = next.Position;
            if (EndsStream(next, viewer))
            {
                yield break;
            }

            if (filter.Matches(next, viewer))
            {
                yield return new LiveItem(LiveItemKind.Event, next.Position, next, next.SeesFull(viewer));
            }
        }
    }

    /// <summary>
    /// Where a stream starts: after the client's <paramref name="lastEventId"/> when the log still holds everything after it,
    /// otherwise at the head with a reset (the client reloads its snapshot). <c>Head</c> is the last position committed when
    /// the stream subscribed: events up to it are a replay, later ones are live.
    /// </summary>
    internal async Task<LiveStart> StartAsync(LiveViewer viewer, string? lastEventId, CancellationToken cancellationToken)
    {
        long? after = long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : null;
        var (head, oldest) = await store.BoundsAsync(viewer.CompanyId, after, cancellationToken);
        if (lastEventId is null)
        {
            return new LiveStart(head, head, Reset: false);
        }

        return after is { } resumeAfter && resumeAfter <= head && resumeAfter >= oldest - 1
            ? new LiveStart(resumeAfter, head, Reset: false)
            : new LiveStart(head, head, Reset: true);
    }

    /// <summary>The viewer's own account was disabled: the stream ends before that event, wherever it is read from.</summary>
    internal static bool EndsStream(LiveEvent e, LiveViewer viewer) => e.Type == EventTypes.UserDisabled && e.OwnerId == viewer.UserId;

    private enum WaitOutcome
    {
        Ready,
        Idle,
        Stopping,
    }

    /// <summary>
    /// Waits for the next queued event, a heartbeat's worth of silence, or shutdown. One timer per stream, armed once per
    /// heartbeat interval: an event only notes the time (this runs for every delivery), and a timer that fires while events
    /// flowed re-arms itself for the rest of the interval instead of sending a heartbeat.
    /// </summary>
    private sealed class IdleWaiter : IDisposable
    {
        private readonly TimeSpan _heartbeat;
        private readonly TimeProvider _time;
        private readonly CancellationToken _stopping;
        private readonly CancellationToken _cancellation;
        private CancellationTokenSource _idle;
        private CancellationTokenSource _linked;
        private long _lastActivity;

        public IdleWaiter(TimeSpan heartbeat, TimeProvider time, CancellationToken stopping, CancellationToken cancellation)
        {
            (_heartbeat, _time, _stopping, _cancellation) = (heartbeat, time, stopping, cancellation);
            _lastActivity = time.GetTimestamp();
            (_idle, _linked) = Arm(heartbeat);
        }

        public async Task<WaitOutcome> WaitAsync(ChannelReader<LiveEvent> reader)
        {
            while (true)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return WaitOutcome.Stopping;
                }

                try
                {
                    await reader.WaitToReadAsync(_linked.Token);
                    _lastActivity = _time.GetTimestamp();
                    return WaitOutcome.Ready;
                }
                catch (OperationCanceledException) when (!_cancellation.IsCancellationRequested)
                {
                    if (_stopping.IsCancellationRequested)
                    {
                        return WaitOutcome.Stopping;
                    }

                    var quiet = _time.GetElapsedTime(_lastActivity);
                    Dispose();
                    if (quiet < _heartbeat)
                    {
                        (_idle, _linked) = Arm(_heartbeat - quiet);
                        continue;
                    }

                    _lastActivity = _time.GetTimestamp();
                    (_idle, _linked) = Arm(_heartbeat);
                    return WaitOutcome.Idle;
                }
            }
        }

        public void Dispose()
        {
            _linked.Dispose();
            _idle.Dispose();
        }

        private (CancellationTokenSource Idle, CancellationTokenSource Linked) Arm(TimeSpan after)
        {
            var idle = new CancellationTokenSource(after, _time);
            return (idle, CancellationTokenSource.CreateLinkedTokenSource(_cancellation, _stopping, idle.Token));
        }
    }
}
