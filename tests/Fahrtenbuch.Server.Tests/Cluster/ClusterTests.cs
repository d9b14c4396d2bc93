using System.Net.Http.Json;
using System.Threading.Channels;
using Fahrtenbuch.Server.Live;
using Fahrtenbuch.Server.Tests.Live;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests.Cluster;

/// <summary>Two server processes, PostgreSQL, Redis and nginx: what a client sees when events cross instances and things break.</summary>
public sealed class ClusterTests(ServerCluster cluster) : IClassFixture<ServerCluster>
{
    // Every write records a higher odometer than any before, on whichever vehicle, so none is refused as going backwards.
    private static int s_odometer = 2_000_000;

    [Fact]
    public async Task StreamOnOneInstance_ReceivesWritesThroughTheOther_InLogOrder()
    {
        cluster.SkipWhenUnavailable();
        await cluster.EnsureRunningAsync();
        using var timeout = Deadline();
        var token = await cluster.TokenAsync("chef@demo.local");
        using var b = ServerCluster.Client(cluster.Instance(1), token);
        var vehicles = await Vehicles(b);
        var start = await LiveAppFactory.HeadAsync(b);
        var onA = Follow(cluster.Instance(0), token, start, timeout.Token);
        var viaProxy = Follow(cluster.Proxy, token, start, timeout.Token);

        for (var i = 0; i < 10; i++)
        {
            await Write(b, vehicles[i % vehicles.Count].Id);
        }

        var end = await LiveAppFactory.HeadAsync(b);
        Assert.Equal(start + 20, end);
        foreach (var follower in new[] { onA, viaProxy })
        {
            follower.End.SetResult(end);
            AssertExactlyOnce(start, end, await follower.Run);
        }
    }

    [Fact]
    public async Task ConcurrentWritersOnBothInstances_SubscribersResumingOnEither_GetEveryEventOnceInOrder()
    {
        cluster.SkipWhenUnavailable();
        await cluster.EnsureRunningAsync();
        using var timeout = Deadline();
        var token = await cluster.TokenAsync("chef@demo.local");
        using var a = ServerCluster.Client(cluster.Instance(0), token);
        using var b = ServerCluster.Client(cluster.Instance(1), token);
        var vehicles = await Vehicles(a);
        var start = await LiveAppFactory.HeadAsync(a);
        var random = new Random(7);

        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 15; i++)
            {
                await Write(w % 2 == 0 ? a : b, vehicles[(w + i) % vehicles.Count].Id);
            }
        })).ToList();

        var followers = new List<(long From, Follower Follower)>();
        for (var s = 0; s < 6; s++)
        {
            await Task.Delay(random.Next(10, 50), TestContext.Current.CancellationToken);
            var from = random.Next((int)start, (int)await LiveAppFactory.HeadAsync(a) + 1);
            var via = (s % 3) switch { 0 => cluster.Instance(0), 1 => cluster.Instance(1), _ => cluster.Proxy };
            followers.Add((from, Follow(via, token, from, timeout.Token)));
        }

        await Task.WhenAll(writers);
        var end = await LiveAppFactory.HeadAsync(b);
        Assert.Equal(start + (4 * 15 * 2), end);
        foreach (var (from, follower) in followers)
        {
            follower.End.SetResult(end);
            AssertExactlyOnce(from, end, await follower.Run);
        }
    }

    [Fact]
    public async Task KilledInstance_ItsClientsReconnectThroughTheProxy_AndGetEveryCommittedEventOnce()
    {
        cluster.SkipWhenUnavailable();
        await cluster.EnsureRunningAsync();
        using var timeout = Deadline();
        var token = await cluster.TokenAsync("chef@demo.local");
        using var api = ServerCluster.Client(cluster.Proxy, token);
        var vehicles = await Vehicles(api);
        var start = await LiveAppFactory.HeadAsync(api);

        // Round robin puts about half of the streams on the instance that is killed.
        var followers = Enumerable.Range(0, 6).Select(_ => Follow(cluster.Proxy, token, start, timeout.Token)).ToList();
        // On a busy machine a stream may not have reached the proxy yet when the instance is killed; it would then only
        // ever see the surviving one.
        await Task.WhenAll(followers.Select(f => f.Connected.Task)).WaitAsync(timeout.Token);
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(w => WriteUntil(ServerCluster.Client(cluster.Proxy, token), vehicles[w].Id, stop.Token)).ToList();

        await Task.Delay(700, TestContext.Current.CancellationToken);
        cluster.Kill(0);
        await Task.Delay(1500, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        var written = (await Task.WhenAll(writers)).Sum();
        var end = await LiveAppFactory.HeadAsync(api);

        Assert.True(written > 10, $"only {written} writes succeeded");
        var reconnects = 0;
        foreach (var follower in followers)
        {
            follower.End.SetResult(end);
            AssertExactlyOnce(start, end, await follower.Run);
            reconnects += follower.Reconnects;
        }

        Assert.True(reconnects > 0, "no stream was on the killed instance");
        TestContext.Current.TestOutputHelper?.WriteLine($"{end - start} events, {written} writes, {reconnects} reconnects after SIGKILL");
    }

    [Fact]
    public async Task RedisRestartedUnderLoad_NoSubscriberMissesAnEvent()
    {
        cluster.SkipWhenUnavailable();
        await cluster.EnsureRunningAsync();
        using var timeout = Deadline();
        var token = await cluster.TokenAsync("chef@demo.local");
        using var a = ServerCluster.Client(cluster.Instance(0), token);
        using var b = ServerCluster.Client(cluster.Instance(1), token);
        var vehicles = await Vehicles(a);
        var start = await LiveAppFactory.HeadAsync(a);

        var followers = Enumerable.Range(0, 4).Select(i => Follow(cluster.Instance(i % 2), token, start, timeout.Token)).ToList();
        using var stop = new CancellationTokenSource();
        var writers = new[] { WriteUntil(a, vehicles[2].Id, stop.Token), WriteUntil(b, vehicles[3].Id, stop.Token) };

        await Task.Delay(500, TestContext.Current.CancellationToken);
        await cluster.RestartRedisAsync(down: TimeSpan.FromSeconds(1));
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        var written = (await Task.WhenAll(writers)).Sum();
        var end = await LiveAppFactory.HeadAsync(a);

        Assert.True(written > 10, $"only {written} writes succeeded");
        foreach (var follower in followers)
        {
            follower.End.SetResult(end);
            AssertExactlyOnce(start, end, await follower.Run);
        }

        var metrics = await a.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        var fills = metrics.Split('\n').Where(l => l.StartsWith("fahrtenbuch_live_gap_fills", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine($"{end - start} events, {written} writes; instance 0: {string.Join(", ", fills)}");
    }

    private static CancellationTokenSource Deadline() =>
        CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);

    private static async Task<List<VehicleResponse>> Vehicles(HttpClient api) =>
        (await api.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options))!;

    private static async Task Write(HttpClient api, Guid vehicleId) =>
        await LiveAppFactory.RecordOdometerAsync(api, vehicleId, Interlocked.Add(ref s_odometer, 10));

    /// <summary>Writes until stopped; a write that fails (its instance died under it) is not retried. Returns the successful ones.</summary>
    private static Task<int> WriteUntil(HttpClient api, Guid vehicleId, CancellationToken stop) => Task.Run(async () =>
    {
        var written = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var response = await api.PostAsJsonAsync($"/api/vehicles/{vehicleId}/odometer", new { value = Interlocked.Add(ref s_odometer, 10) });
                written += response.IsSuccessStatusCode ? 1 : 0;
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(15);
        }

        return written;
    });

    private static void AssertExactlyOnce(long from, long end, List<long> positions) =>
        Assert.Equal(Enumerable.Range((int)from + 1, (int)(end - from)).Select(p => (long)p), positions);

    /// <summary>A client like the SDK's: follows the stream and, when it breaks, reconnects with Last-Event-ID.</summary>
    private static Follower Follow(Uri via, string token, long from, CancellationToken cancellationToken)
    {
        var follower = new Follower();
        follower.Run = Task.Run(async () =>
        {
            var positions = new List<long>();
            var last = from;
            while (true)
            {
                SseClient? stream = null;
                try
                {
                    stream = await ServerCluster.OpenStreamAsync(via, token, last, cancellationToken);
                    follower.Connected.TrySetResult();
                    while (!(follower.End.Task.IsCompleted && last >= follower.End.Task.Result))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        System.Net.ServerSentEvents.SseItem<string> item;
                        try
                        {
                            item = await stream.NextAsync(0.3);
                        }
                        catch (OperationCanceledException)
                        {
                            continue;
                        }

                        Assert.NotEqual(LiveControl.Reset, item.EventType);
                        if (item.EventId is not null)
                        {
                            last = SseClient.Position(item);
                            positions.Add(last);
                        }
                    }

                    return positions;
                }
                catch (Exception e) when (e is ChannelClosedException or HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
                {
                    follower.Reconnects++;
                    await Task.Delay(100, cancellationToken);
                }
                finally
                {
                    if (stream is not null)
                    {
                        await stream.DisposeAsync();
                    }
                }
            }
        }, cancellationToken);
        return follower;
    }

    private sealed class Follower
    {
        public TaskCompletionSource<long> End { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set once the first stream is open (its response headers arrived).</summary>
        public TaskCompletionSource Connected { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<List<long>> Run { get; set; } = null!;

        public int Reconnects { get; set; }
    }
}
