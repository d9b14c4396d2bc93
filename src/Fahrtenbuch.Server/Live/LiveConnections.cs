using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>Stable codes of the live feature's refusals.</summary>
public static class LiveErrorCodes
{
    public const string TooManyForUser = "live.too-many-connections-for-user";
    public const string TooMany = "live.too-many-connections";
}

/// <summary>The live transports, as <see cref="LiveConnection.Transport"/> and the <c>transport</c> tag of the live metrics.</summary>
public static class LiveTransports
{
    public const string Sse = "sse";
    public const string SignalR = "signalr";
}

/// <summary>One open SSE stream or hub connection; <see cref="Closing"/> fires when it must end (session over, shutdown).</summary>
public sealed class LiveConnection : IDisposable
{
    private readonly LiveConnections _owner;
    private readonly CancellationTokenSource _closing = new();
    private int _disposed;

    internal LiveConnection(LiveConnections owner, CurrentUser user, string transport)
    {
        _owner = owner;
        User = user;
        Transport = transport;
    }

    public CurrentUser User { get; }

    public string Transport { get; }

    public CancellationToken Closing => _closing.Token;

    public void Close()
    {
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Release(this);
            _closing.Dispose();
        }
    }
}

/// <summary>Counts open live connections per user and in total, and finds them again to close them.</summary>
public sealed class LiveConnections(IOptions<LiveOptions> options)
{
    private readonly Lock _gate = new();
    private readonly HashSet<LiveConnection> _open = [];
    private readonly Dictionary<Guid, int> _perUser = [];

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>Registers a connection or refuses with 429 when a limit is reached.</summary>
    public LiveConnection Open(CurrentUser user, string transport)
    {
        var limits = options.Value;
        lock (_gate)
        {
            if (_open.Count >= limits.MaxConnections)
            {
                throw new DomainException(StatusCodes.Status429TooManyRequests, LiveErrorCodes.TooMany,
                    "The server has as many live connections as it accepts; retry later.");
            }

            var mine = _perUser.GetValueOrDefault(user.Id);
            if (mine >= limits.MaxConnectionsPerUser)
            {
                throw new DomainException(StatusCodes.Status429TooManyRequests, LiveErrorCodes.TooManyForUser,
                    $"You already have {mine} live connections open; close one (e.g. another browser tab) first.");
            }

            var connection = new LiveConnection(this, user, transport);
            _open.Add(connection);
            _perUser[user.Id] = mine + 1;
            Telemetry.LiveStreams.Add(1, Telemetry.TransportTag(transport));
            return connection;
        }
    }

    public IReadOnlyList<LiveConnection> Snapshot()
    {
        lock (_gate)
        {
            return [.. _open];
        }
    }

    internal void Release(LiveConnection connection)
    {
        lock (_gate)
        {
            if (_open.Remove(connection))
            {
                Telemetry.LiveStreams.Add(-1, Telemetry.TransportTag(connection.Transport));
                var left = _perUser[connection.User.Id] - 1;
                if (left == 0)
                {
                    _perUser.Remove(connection.User.Id);
                }
                else
                {
                    _perUser[connection.User.Id] = left;
                }
            }
        }
    }
}

/// <summary>Closes live connections whose session ended (logout, disabled user, revoked refresh family).</summary>
public sealed class LiveSessionWatchdog(LiveConnections connections, SessionValidator sessions, IOptions<LiveOptions> options, TimeProvider time, ILogger<LiveSessionWatchdog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SessionCheck, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await CheckAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        foreach (var group in connections.Snapshot().GroupBy(c => (c.User.Id, c.User.SessionId)))
        {
            try
            {
                if (!await sessions.IsActiveAsync(group.Key.Id, group.Key.SessionId, cancellationToken))
                {
                    logger.LogInformation("Closing {Count} live connection(s) of user {UserId}: the session has ended", group.Count(), group.Key.Id);
                    foreach (var connection in group)
                    {
                        connection.Close();
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not check the session of user {UserId}", group.Key.Id);
            }
        }
    }
}
