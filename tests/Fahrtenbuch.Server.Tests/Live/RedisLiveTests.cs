using System.Net;
using Fahrtenbuch.Server.Live;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>Two servers in this process on one database, their live events carried by a real redis-server.</summary>
public sealed class RedisLiveTests
{
    [Fact]
    public async Task Stream_OnOneInstance_ReceivesWhatTheOtherWrote_InLogOrder_ThroughRedis()
    {
        RedisLiveAppFactory.SkipWithoutRedis();
        var channel = RedisLiveAppFactory.NewChannel();

        // A head check far beyond the test: only a Redis message can deliver the last event in time.
        await using var pair = Pair.Start(channel, channel, headCheckSeconds: 600);
        Assert.IsType<RedisLiveTransport>(pair.A.Services.GetRequiredService<ILiveTransport>());
        var writer = await pair.B.ApiAsync("chef@demo.local");
        var vehicles = await LiveAppFactory.VehiclesAsync(writer);
        await using var stream = await pair.A.OpenStreamAsync(await pair.A.TokenAsync("chef@demo.local"));
        var start = await LiveAppFactory.HeadAsync(writer);

        for (var i = 0; i < 10; i++)
        {
            await LiveAppFactory.RecordOdometerAsync(writer, vehicles[i % vehicles.Count].Id, 900_000 + i);
        }

        var end = await LiveAppFactory.HeadAsync(writer);
        Assert.Equal(start + 20, end);
        var positions = (await stream.UntilAsync(end, seconds: 10)).Select(SseClient.Position).ToList();
        Assert.Equal(Enumerable.Range((int)start + 1, 20).Select(p => (long)p), positions);
    }

    [Fact]
    public async Task LostLastMessage_ReachesTheStream_FromTheLog_ByTheHeadCheck()
    {
        RedisLiveAppFactory.SkipWithoutRedis();

        // Different channels: every message from B is lost for A, as on a Redis restart, and no later event reveals the gap.
        await using var pair = Pair.Start(RedisLiveAppFactory.NewChannel(), RedisLiveAppFactory.NewChannel(), headCheckSeconds: 0.2);
        var writer = await pair.B.ApiAsync("anna@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(writer))[0];
        await using var stream = await pair.A.OpenStreamAsync(await pair.A.TokenAsync("chef@demo.local"));
        var start = await LiveAppFactory.HeadAsync(writer);

        await LiveAppFactory.RecordOdometerAsync(writer, vehicle.Id, 910_000);
        var positions = (await stream.UntilAsync(start + 2, seconds: 5)).Select(SseClient.Position).ToList();
        Assert.Equal([start + 1, start + 2], positions);

        // A second lost message is filled the same way; the delivered positions are the assertion (the gap-fill
        // counter is process-wide and test classes run in parallel, so counting it here was flaky).
        await LiveAppFactory.RecordOdometerAsync(writer, vehicle.Id, 910_010);
        positions = (await stream.UntilAsync(start + 4, seconds: 5)).Select(SseClient.Position).ToList();
        Assert.Equal([start + 3, start + 4], positions);
    }

    [Fact]
    public async Task Hub_OnOneInstance_StreamsWhatTheOtherWrote_WithTheRedisBackplaneOn()
    {
        RedisLiveAppFactory.SkipWithoutRedis();
        var channel = RedisLiveAppFactory.NewChannel();
        await using var pair = Pair.Start(channel, channel, headCheckSeconds: 600);
        var writer = await pair.B.ApiAsync("chef@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(writer))[1];
        var start = await LiveAppFactory.HeadAsync(writer);
        await using var hub = pair.A.Hub(await pair.A.TokenAsync("chef@demo.local"));
        await hub.StartAsync(TestContext.Current.CancellationToken);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = hub.StreamAsync<LiveMessage>("Events", start.ToString(), null, false, timeout.Token);

        await LiveAppFactory.RecordOdometerAsync(writer, vehicle.Id, 920_000);
        var positions = new List<long>();
        await foreach (var message in events)
        {
            positions.Add(message.Position!.Value);
            if (positions.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([start + 1, start + 2], positions);
    }

    [Fact]
    public async Task UnreachableRedis_FailsReadiness_WhileLocalEventsStillStreamAtOnce()
    {
        // A closed port: no redis-server needed.
        await using var app = new RedisLiveAppFactory(
            AppFactory.NewDataDirectory(), keepData: false, RedisLiveAppFactory.NewChannel(), headCheckSeconds: 600,
            connection: "127.0.0.1:1,connectTimeout=300,asyncTimeout=500,syncTimeout=500");
        var chef = await app.ApiAsync("chef@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(chef))[2];
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"));
        var start = await LiveAppFactory.HeadAsync(chef);

        await LiveAppFactory.RecordOdometerAsync(chef, vehicle.Id, 930_000);
        var positions = (await stream.UntilAsync(start + 2, seconds: 5)).Select(SseClient.Position).ToList();
        Assert.Equal([start + 1, start + 2], positions);

        using var client = app.RealClient();
        var ready = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var live = await client.GetAsync("/health/live", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Readiness_IsHealthy_WithRedisReachable()
    {
        RedisLiveAppFactory.SkipWithoutRedis();
        await using var app = new RedisLiveAppFactory();
        using var client = app.RealClient();
        var ready = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    /// <summary>Server A and server B on A's data folder (and so the same SQLite file or PostgreSQL database).</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private Pair(RedisLiveAppFactory a, RedisLiveAppFactory b)
        {
            A = a;
            B = b;
        }

        public RedisLiveAppFactory A { get; }

        public RedisLiveAppFactory B { get; }

        public static Pair Start(string channelA, string channelB, double headCheckSeconds)
        {
            var a = new RedisLiveAppFactory(AppFactory.NewDataDirectory(), keepData: false, channelA, headCheckSeconds);
            _ = a.BaseAddress;
            var b = new RedisLiveAppFactory(a.DataDirectory, keepData: true, channelB, headCheckSeconds);
            _ = b.BaseAddress;
            return new Pair(a, b);
        }

        public async ValueTask DisposeAsync()
        {
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }
}
