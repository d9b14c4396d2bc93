using System.Threading.Channels;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;

namespace Fahrtenbuch.Server.Live;

/// <summary>
/// The one seam through which committed events travel to live subscribers (like Mercure's Transport).
/// Delivery is best effort and may reorder: subscribers compare positions with what they sent, skip
/// what they already have and fill any gap from the database log, which stays the source of truth.
/// So an implementation over Redis pub/sub (which drops messages on reconnects) is a drop-in.
/// </summary>
public interface ILiveTransport
{
    /// <summary>Hands committed events of one company to every subscriber of that company (on every instance).</summary>
    void Publish(Guid companyId, IReadOnlyList<EventRecord> events);

    /// <summary>
    /// Registers a callback for a company's events. It gets the events of one commit (or of one gap fill) at once, in log
    /// order, so a subscriber can write them to its socket in one go. It runs on the publisher's thread and must not block.
    /// </summary>
    IDisposable Subscribe(Guid companyId, Action<IReadOnlyList<LiveEvent>> onEvents);
}

/// <summary>
/// Fan-out inside this process. Writers only encode their events (once, for every subscriber) and queue them; one loop hands
/// them to the company's subscribers in the order they were queued. So a commit never waits for thousands of socket writes,
/// and whatever was committed while the loop was busy goes out together: one write per subscriber for several commits.
/// </summary>
public sealed partial class InProcessLiveTransport : ILiveTransport, IDisposable
{
    /// <summary>Events handed out in one round at most, so one subscriber's pipe never gets a huge write at once.</summary>
    private const int MaxEventsPerRound = 256;

    // Subscribing is O(1) (a storm of thousands of streams must not copy the list per stream); the array handed out for a
    // fan-out is rebuilt at most once per membership change. A fan-out runs under the lock, so a subscriber registered
    // after it returns sees every event handed out later (the replay tail of LiveEventStore relies on it).
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Subscribers> _subscribers = [];
    private readonly Channel<(Guid CompanyId, IReadOnlyList<LiveEvent> Events)> _queue =
        Channel.CreateUnbounded<(Guid, IReadOnlyList<LiveEvent>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ILogger<InProcessLiveTransport> _logger;

    public InProcessLiveTransport(ILogger<InProcessLiveTransport> logger)
    {
        _logger = logger;
        _ = Task.Run(FanOutAsync);
    }

    public void Publish(Guid companyId, IReadOnlyList<EventRecord> events)
    {
        if (events.Count > 0)
        {
            _queue.Writer.TryWrite((companyId, events.Select(record => new LiveEvent(record)).ToArray()));
        }
    }

    /// <summary>Hands already decoded events to this process's subscribers (the Redis transport's gap fill).</summary>
    public void Deliver(Guid companyId, IReadOnlyList<LiveEvent> events)
    {
        if (events.Count > 0)
        {
            _queue.Writer.TryWrite((companyId, events));
        }
    }

    /// <summary>Stops the fan-out; events still queued are dropped (subscribers resume from the log).</summary>
    public void Dispose() => _queue.Writer.TryComplete();

    public IDisposable Subscribe(Guid companyId, Action<IReadOnlyList<LiveEvent>> onEvents)
    {
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(companyId, out var subscribers))
            {
                subscribers = new Subscribers();
                _subscribers[companyId] = subscribers;
            }

            subscribers.Set.Add(onEvents);
            subscribers.Snapshot = null;
        }

        return new Subscription(this, companyId, onEvents);
    }

    private async Task FanOutAsync()
    {
        var reader = _queue.Reader;
        var round = new Dictionary<Guid, List<LiveEvent>>();
        while (await reader.WaitToReadAsync())
        {
            // Everything queued meanwhile, per company in queue order (which is log order for each writer's commit).
            var count = 0;
            while (count < MaxEventsPerRound && reader.TryRead(out var item))
            {
                if (!round.TryGetValue(item.CompanyId, out var events))
                {
                    round[item.CompanyId] = events = [];
                }

                events.AddRange(item.Events);
                count += item.Events.Count;
            }

            lock (_gate)
            {
                foreach (var (companyId, events) in round)
                {
                    if (Current(companyId) is { } subscribers)
                    {
                        Hand(companyId, events, subscribers);
                    }
                }
            }

            round.Clear();
        }
    }

    // The events are committed: a subscriber that throws must neither stop the fan-out nor starve the others.
    private void Hand(Guid companyId, List<LiveEvent> events, Action<IReadOnlyList<LiveEvent>>[] subscribers)
    {
        foreach (var subscriber in subscribers)
        {
            try
            {
                subscriber(events);
            }
            catch (Exception e)
            {
                LogSubscriberFailed(e, companyId, events[0].Position, events[^1].Position);
            }
        }
    }

    [LoggerMessage(LogLevel.Error, "A live subscriber of company {CompanyId} failed on the events at positions {First}-{Last}")]
    private partial void LogSubscriberFailed(Exception exception, Guid companyId, long first, long last);

    private Action<IReadOnlyList<LiveEvent>>[]? Current(Guid companyId) =>
        _subscribers.TryGetValue(companyId, out var subscribers) ? subscribers.Snapshot ??= [.. subscribers.Set] : null;

    private void Unsubscribe(Guid companyId, Action<IReadOnlyList<LiveEvent>> onEvent)
    {
        lock (_gate)
        {
            if (_subscribers.TryGetValue(companyId, out var subscribers) && subscribers.Set.Remove(onEvent))
            {
                subscribers.Snapshot = null;
                if (subscribers.Set.Count == 0)
                {
                    _subscribers.Remove(companyId);
                }
            }
        }
    }

    private sealed class Subscribers
    {
        public HashSet<Action<IReadOnlyList<LiveEvent>>> Set { get; } = [];

        public Action<IReadOnlyList<LiveEvent>>[]? Snapshot { get; set; }
    }

    private sealed class Subscription(InProcessLiveTransport owner, Guid companyId, Action<IReadOnlyList<LiveEvent>> onEvent) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(companyId, onEvent);
            }
        }
    }
}

public sealed class LiveEventSink(ILiveTransport transport) : IEventSink
{
    public void Committed(Guid companyId, IReadOnlyList<EventRecord> events)
    {
        Telemetry.LiveEventsPublished.Add(events.Count);
        transport.Publish(companyId, events);
    }
}
