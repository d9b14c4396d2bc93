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
/// Fan-out inside this process. Writers only queue their events (encoded once for every subscriber, when first handed
/// out); one loop sweeps over the company's subscribers and hands each the events it has not been handed yet. So a
/// commit never waits for thousands of socket writes, and what is committed while a sweep is under way joins it: the
/// subscribers still ahead get it in the same socket write as the commits before it, those already visited in the next
/// sweep. Under load an event waits for at most one sweep instead of the rest of the current one and then its own, and
/// the busier the server the more commits share one write.
/// </summary>
public sealed partial class InProcessLiveTransport : ILiveTransport, IDisposable
{
    /// <summary>Events handed to one subscriber at once at most, so one subscriber's pipe never gets a huge write.</summary>
    private const int MaxEventsPerHand = 256;

    /// <summary>
    /// Subscribers visited in one turn of the lock. Between turns, subscribers come and go and newly committed events join
    /// the sweep, so neither waits for a sweep over tens of thousands of streams.
    /// </summary>
    internal const int SubscribersPerTurn = 256;

    // Subscribing is O(1) (a storm of thousands of streams must not copy the list per stream); the array a sweep runs over
    // is rebuilt at most once per membership change. A subscriber starts at the oldest event that some subscriber has not
    // been handed yet, so whatever another subscriber (the replay tail of LiveEventStore) lacks when the new one reads it
    // is handed to the new one later. See docs/adr/0002-live-fan-out.md.
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Company> _companies = [];
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
        var subscriber = new Subscriber(onEvents);
        Company? company;
        lock (_gate)
        {
            if (!_companies.TryGetValue(companyId, out company))
            {
                company = new Company(companyId);
                _companies[companyId] = company;
            }

            company.Add(subscriber);
        }

        return new Subscription(this, company, subscriber);
    }

    private async Task FanOutAsync()
    {
        var reader = _queue.Reader;
        var sweeping = new List<Company>();
        while (await reader.WaitToReadAsync())
        {
            // Sweep until every subscriber has everything, taking in what is committed meanwhile between turns.
            while (true)
            {
                lock (_gate)
                {
                    while (reader.TryRead(out var item))
                    {
                        // A company nobody listens to here has nothing to hand out.
                        if (_companies.TryGetValue(item.CompanyId, out var company))
                        {
                            company.Append(item.Events);
                            if (!sweeping.Contains(company))
                            {
                                sweeping.Add(company);
                            }
                        }
                    }
                }

                if (sweeping.Count == 0)
                {
                    break;
                }

                // One turn per company in turn, so a company with many streams does not hold up the others.
                for (var i = sweeping.Count - 1; i >= 0; i--)
                {
                    bool caughtUp;
                    lock (_gate)
                    {
                        caughtUp = sweeping[i].Turn(this);
                    }

                    if (caughtUp)
                    {
                        sweeping.RemoveAt(i);
                    }
                }
            }
        }
    }

    // The events are committed: a subscriber that throws must neither stop the fan-out nor starve the others.
    private void Hand(Guid companyId, Subscriber subscriber, LiveEvent[] events)
    {
        try
        {
            subscriber.OnEvents(events);
        }
        catch (Exception e)
        {
            LogSubscriberFailed(e, companyId, events[0].Position, events[^1].Position);
        }
    }

    [LoggerMessage(LogLevel.Error, "A live subscriber of company {CompanyId} failed on the events at positions {First}-{Last}")]
    private partial void LogSubscriberFailed(Exception exception, Guid companyId, long first, long last);

    private void Unsubscribe(Company company, Subscriber subscriber)
    {
        lock (_gate)
        {
            if (company.Remove(subscriber) && company.IsEmpty && _companies.TryGetValue(company.Id, out var current) && current == company)
            {
                _companies.Remove(company.Id);
            }
        }
    }

    /// <summary>One subscriber and how far into its company's stream of queued events it has been handed.</summary>
    private sealed class Subscriber(Action<IReadOnlyList<LiveEvent>> onEvents)
    {
        public Action<IReadOnlyList<LiveEvent>> OnEvents { get; } = onEvents;

        /// <summary>The index in the company's stream of the first event this subscriber has not been handed.</summary>
        public long Next { get; set; }

        public bool Removed { get; set; }
    }

    /// <summary>
    /// A company's subscribers, the events queued for them and the sweep in progress. Every member is used under the
    /// transport's lock.
    /// </summary>
    private sealed class Company(Guid id)
    {
        private readonly HashSet<Subscriber> _subscribers = [];
        private readonly List<LiveEvent> _events = [];
        private Subscriber[]? _snapshot;

        // The stream index of _events[0]: every subscriber has been handed everything before it.
        private long _base;

        // The sweep in progress: the subscribers it visits, the next one, and the lowest index still wanted by a visited
        // subscriber or by one that joined during the sweep (the next sweep visits those).
        private Subscriber[]? _sweep;
        private int _cursor;
        private long _lowestWanted = long.MaxValue;

        // The last slice handed out: the subscribers of one sweep mostly want the same events, so they share one array.
        private (long From, long To, LiveEvent[] Events) _slice;

        public Guid Id => id;

        public bool IsEmpty => _subscribers.Count == 0;

        private long End => _base + _events.Count;

        public void Add(Subscriber subscriber)
        {
            subscriber.Next = _base;
            _subscribers.Add(subscriber);
            _snapshot = null;
            _lowestWanted = Math.Min(_lowestWanted, _base);
        }

        public bool Remove(Subscriber subscriber)
        {
            subscriber.Removed = true;
            _snapshot = null;
            return _subscribers.Remove(subscriber);
        }

        public void Append(IReadOnlyList<LiveEvent> events) => _events.AddRange(events);

        /// <summary>
        /// Visits the next subscribers of the sweep, handing each what it lacks; at the end of a sweep, drops the events
        /// every subscriber has. True when every subscriber has everything queued so far.
        /// </summary>
        public bool Turn(InProcessLiveTransport transport)
        {
            if (_sweep is null)
            {
                _sweep = _snapshot ??= [.. _subscribers];
                _cursor = 0;
                _lowestWanted = long.MaxValue;
            }

            var end = End;
            var stop = Math.Min(_sweep.Length, _cursor + SubscribersPerTurn);
            for (; _cursor < stop; _cursor++)
            {
                var subscriber = _sweep[_cursor];
                if (subscriber.Removed)
                {
                    continue;
                }

                if (subscriber.Next < end)
                {
                    var from = subscriber.Next;
                    subscriber.Next = Math.Min(end, from + MaxEventsPerHand);
                    transport.Hand(id, subscriber, Slice(from, subscriber.Next));
                }

                _lowestWanted = Math.Min(_lowestWanted, subscriber.Next);
            }

            if (_cursor < _sweep.Length)
            {
                return false;
            }

            var handedToAll = Math.Min(_lowestWanted, end);
            _events.RemoveRange(0, (int)(handedToAll - _base));
            _base = handedToAll;
            _sweep = null;
            _slice = default;
            return _base == End;
        }

        private LiveEvent[] Slice(long from, long to)
        {
            if (_slice.Events is null || _slice.From != from || _slice.To != to)
            {
                var events = new LiveEvent[to - from];
                _events.CopyTo((int)(from - _base), events, 0, events.Length);
                _slice = (from, to, events);
            }

            return _slice.Events;
        }
    }

    private sealed class Subscription(InProcessLiveTransport owner, Company company, Subscriber subscriber) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(company, subscriber);
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
