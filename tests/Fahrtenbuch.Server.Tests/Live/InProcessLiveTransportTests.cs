using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Live;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>
/// The in-process fan-out sweeps over a company's subscribers a turn at a time; between turns, newly committed events join
/// the sweep and subscribers come and go (docs/adr/0002-live-fan-out.md). Subscriber callbacks here act at a known point
/// of a sweep: the first subscriber called in a sweep is the first of its first turn.
/// </summary>
public sealed class InProcessLiveTransportTests
{
    private const int Subscribers = 600;

    private static readonly Guid Company = Guid.CreateVersion7();

    [Fact]
    public async Task EventsCommittedDuringASweep_ReachTheSubscribersAheadInTheSameHand_AndEveryoneElseNext()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var first = 0;
        var received = Subscribe(transport, Subscribers, onFirstCall: () =>
        {
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                transport.Deliver(Company, [Event(2)]);
            }
        });

        transport.Deliver(Company, [Event(1)]);
        await UntilAsync(() => received.All(r => r.Positions.Count == 2));

        Assert.All(received, r => Assert.Equal([1L, 2L], r.Positions));
        var together = received.Count(r => r.Hands.Count == 1);
        Assert.Equal(Subscribers - InProcessLiveTransport.SubscribersPerTurn, together);
        Assert.All(received.Where(r => r.Hands.Count != 1), r => Assert.Equal([1, 1], r.Hands));
    }

    [Fact]
    public async Task ASubscriberThatJoinsDuringASweep_IsHandedWhatOthersHaveNotBeenHandedYet()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var late = new Received();
        var first = 0;
        var received = Subscribe(transport, Subscribers, onFirstCall: () =>
        {
            // Most subscribers (the replay tail among them, in the server) have not been handed event 1 yet: a stream that
            // subscribes now and reads the tail must get event 1 from the transport.
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                transport.Subscribe(Company, late.Add);
            }
        });

        transport.Deliver(Company, [Event(1)]);
        await UntilAsync(() => late.Positions.Count == 1 && received.All(r => r.Positions.Count == 1));
        transport.Deliver(Company, [Event(2)]);
        await UntilAsync(() => late.Positions.Count == 2);

        Assert.Equal([1L, 2L], late.Positions);
    }

    [Fact]
    public async Task ASubscriberThatJoinsWhenEverythingIsHandedOut_GetsOnlyWhatComesAfter()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var early = Subscribe(transport, 1);
        transport.Deliver(Company, [Event(1)]);
        await UntilAsync(() => early[0].Positions.Count == 1);

        var late = Subscribe(transport, 1);
        transport.Deliver(Company, [Event(2)]);
        await UntilAsync(() => early[0].Positions.Count == 2 && late[0].Positions.Count == 1);

        Assert.Equal([2L], late[0].Positions);
    }

    [Fact]
    public async Task ASubscriberRemovedDuringASweep_IsNotCalledAgain()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var subscriptions = new List<IDisposable>();
        var calls = 0;
        var received = new List<Received>();
        for (var i = 0; i < Subscribers; i++)
        {
            var r = new Received();
            received.Add(r);
            subscriptions.Add(transport.Subscribe(Company, events =>
            {
                r.Add(events);

                // The first one called ends every subscription, its own too, in the middle of the sweep.
                if (Interlocked.Increment(ref calls) == 1)
                {
                    subscriptions.ForEach(s => s.Dispose());
                }
            }));
        }

        transport.Deliver(Company, [Event(1)]);
        await UntilAsync(() => Volatile.Read(ref calls) == 1);
        var witness = Subscribe(transport, 1);
        transport.Deliver(Company, [Event(2)]);
        await UntilAsync(() => witness[0].Positions.Contains(2));

        Assert.Equal(1, received.Count(r => r.Positions.Count > 0));
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task ManyEventsAtOnce_AreHandedInOrder_InPiecesOfAtMostTheLimit()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var received = Subscribe(transport, 2);

        transport.Deliver(Company, [.. Enumerable.Range(1, 600).Select(p => Event(p))]);
        await UntilAsync(() => received.All(r => r.Positions.Count == 600));

        Assert.All(received, r =>
        {
            Assert.Equal(Enumerable.Range(1, 600).Select(p => (long)p), r.Positions);
            Assert.Equal([256, 256, 88], r.Hands);
        });
    }

    [Fact]
    public async Task ASubscriberThatThrows_NeitherStopsTheSweepNorLaterEvents()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        using var failing = transport.Subscribe(Company, _ => throw new InvalidOperationException("broken subscriber"));
        var received = Subscribe(transport, 3);

        transport.Deliver(Company, [Event(1)]);
        transport.Deliver(Company, [Event(2)]);
        await UntilAsync(() => received.All(r => r.Positions.Count == 2));

        Assert.All(received, r => Assert.Equal([1L, 2L], r.Positions));
    }

    [Fact]
    public async Task Companies_AreSweptApart()
    {
        using var transport = new InProcessLiveTransport(NullLogger<InProcessLiveTransport>.Instance);
        var other = Guid.CreateVersion7();
        var ours = Subscribe(transport, 2);
        var theirs = new Received();
        using var subscription = transport.Subscribe(other, theirs.Add);

        transport.Deliver(Company, [Event(1)]);
        transport.Deliver(other, [Event(1, other), Event(2, other)]);
        await UntilAsync(() => theirs.Positions.Count == 2 && ours.All(r => r.Positions.Count == 1));

        Assert.All(ours, r => Assert.Equal([1L], r.Positions));
        Assert.Equal([1L, 2L], theirs.Positions);
    }

    private static List<Received> Subscribe(InProcessLiveTransport transport, int count, Action? onFirstCall = null)
    {
        var received = new List<Received>();
        for (var i = 0; i < count; i++)
        {
            var r = new Received();
            received.Add(r);
            transport.Subscribe(Company, events =>
            {
                r.Add(events);
                onFirstCall?.Invoke();
            });
        }

        return received;
    }

    private static LiveEvent Event(long position, Guid? company = null) =>
        new(new EventRecord(company ?? Company, position, "test.event", DateTimeOffset.UnixEpoch, "{}", null, EventAudience.Company, null, null, null));

    private static async Task UntilAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "the fan-out did not deliver in time");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>What one subscriber was handed: every position in order, and the size of each hand.</summary>
    private sealed class Received
    {
        private readonly Lock _gate = new();
        private readonly List<long> _positions = [];
        private readonly List<int> _hands = [];

        public List<long> Positions
        {
            get
            {
                lock (_gate)
                {
                    return [.. _positions];
                }
            }
        }

        public List<int> Hands
        {
            get
            {
                lock (_gate)
                {
                    return [.. _hands];
                }
            }
        }

        public void Add(IReadOnlyList<LiveEvent> events)
        {
            lock (_gate)
            {
                _positions.AddRange(events.Select(e => e.Position));
                _hands.Add(events.Count);
            }
        }
    }
}
