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

    /// <summary>Registers a callback for a company's events. It runs on the publisher's thread and must not block.</summary>
    IDisposable Subscribe(Guid companyId, Action<LiveEvent> onEvent);
}

/// <summary>Fan-out inside this process: each event is encoded once and handed to the company's subscribers.</summary>
public sealed class InProcessLiveTransport : ILiveTransport
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Action<LiveEvent>[]> _subscribers = [];

    public void Publish(Guid companyId, IReadOnlyList<EventRecord> events)
    {
        Action<LiveEvent>[]? subscribers;
        lock (_gate)
        {
            _subscribers.TryGetValue(companyId, out subscribers);
        }

        if (subscribers is null || events.Count == 0)
        {
            return;
        }

        foreach (var record in events)
        {
            var live = new LiveEvent(record);
            foreach (var subscriber in subscribers)
            {
                subscriber(live);
            }
        }
    }

    /// <summary>Hands events already read from the log (a transport's gap fill) to the company's subscribers.</summary>
    public void Deliver(Guid companyId, IReadOnlyList<LiveEvent> events)
    {
        Action<LiveEvent>[]? subscribers;
        lock (_gate)
        {
            _subscribers.TryGetValue(companyId, out subscribers);
        }

        if (subscribers is null)
        {
            return;
        }

        foreach (var live in events)
        {
            foreach (var subscriber in subscribers)
            {
                subscriber(live);
            }
        }
    }

    public IDisposable Subscribe(Guid companyId, Action<LiveEvent> onEvent)
    {
        lock (_gate)
        {
            _subscribers[companyId] = [.. _subscribers.GetValueOrDefault(companyId, []), onEvent];
        }

        return new Subscription(this, companyId, onEvent);
    }

    private void Unsubscribe(Guid companyId, Action<LiveEvent> onEvent)
    {
        lock (_gate)
        {
            var rest = _subscribers.GetValueOrDefault(companyId, []).Where(s => s != onEvent).ToArray();
            if (rest.Length == 0)
            {
                _subscribers.Remove(companyId);
            }
            else
            {
                _subscribers[companyId] = rest;
            }
        }
    }

    private sealed class Subscription(InProcessLiveTransport owner, Guid companyId, Action<LiveEvent> onEvent) : IDisposable
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

/// <summary>Hands every committed transaction to the transport.</summary>
public sealed class LiveEventSink(ILiveTransport transport) : IEventSink
{
    public void Committed(Guid companyId, IReadOnlyList<EventRecord> events)
    {
        Telemetry.LiveEventsPublished.Add(events.Count);
        transport.Publish(companyId, events);
    }
}
