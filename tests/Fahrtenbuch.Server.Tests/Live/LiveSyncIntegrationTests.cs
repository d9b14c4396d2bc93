using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Fahrtenbuch.Client;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Tests.Sync;
using Microsoft.EntityFrameworkCore;
using static Fahrtenbuch.Server.Tests.Sync.SyncApi;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>A live server that suggests a short <c>retry:</c>, so clients cut off by the proxy come back at once.</summary>
public sealed class QuickRetryFactory() : LiveAppFactory(NewDataDirectory(), keepData: false, new() { ["Live:RetryMilliseconds"] = "100" });

/// <summary>
/// The SDK, the CLI and offline sync against the real <c>GET /api/events</c>: what a client receives is the
/// event table, and what sync and review write reaches the right people on the stream.
/// </summary>
public sealed class LiveSyncIntegrationTests(QuickRetryFactory app) : IClassFixture<QuickRetryFactory>
{
    [Fact]
    public async Task SdkSubscription_ThroughAProxyThatCutsConnections_ReceivesTheEventTableExactly_AndSyncPositionIsTheLastEventStreamed()
    {
        var ct = TestContext.Current.CancellationToken;
        var chef = await app.ApiAsync("chef@demo.local");
        var anna = await app.ApiAsync("anna@demo.local");
        var car = (await app.NewVehicleAsync(10_000)).Id;
        var from = await LiveAppFactory.HeadAsync(chef);
        await using var proxy = new FaultyProxy(Endpoint(app.BaseAddress), cutChance: 0.6, seed: 11);
        using var sdk = Sdk(new Uri($"http://127.0.0.1:{proxy.Port}"), await app.TokenAsync("chef@demo.local"));
        var live = new LiveSubscription(sdk) { LastEventId = from.ToString(CultureInfo.InvariantCulture), ReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) };
        var received = new Collector();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(40));
        var run = live.RunAsync(received.Add, stop.Token);

        for (var i = 0; i < 25; i++)
        {
            await BumpOdometerAsync(chef, i);
            if (i % 5 == 4)
            {
                // Cut a connection that is really streaming: wait until it has delivered what exists.
                await received.UntilAsync(await LiveAppFactory.HeadAsync(chef), stop.Token);
                proxy.CutAll();
            }
        }

        var trip = Guid.CreateVersion7();
        var batch = await SyncAsync(anna, Guid.NewGuid(),
            Op("trip.start", trip, car, new { startOdometer = 10_000 }, DateTimeOffset.UtcNow.AddHours(-1)),
            Op("trip.complete", trip, payload: Completion(10_040), capturedAt: DateTimeOffset.UtcNow.AddMinutes(-5)));
        var position = batch.GetProperty("position").GetInt64();

        await received.UntilAsync(position, stop.Token);
        await Task.Delay(300, ct);
        await stop.CancelAsync();
        await run;

        var companyId = await app.QueryAsync(db => db.Users.Where(u => u.Email == "chef@demo.local").Select(u => u.CompanyId).SingleAsync(ct));
        var table = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().Where(e => e.CompanyId == companyId && e.Position > from)
            .OrderBy(e => e.Position).Select(e => new { e.Position, e.Type }).ToListAsync(ct));
        var events = received.Snapshot();
        Assert.Equal(table.Select(e => $"{e.Position} {e.Type}"), events.Select(e => $"{e.Id} {e.Type}"));
        Assert.True(proxy.Connections > 5, $"the stream reconnected only {proxy.Connections} times, so the test proved little");

        // The batch's position is exactly its last event: a client can load state and stream on from it.
        Assert.Equal(position, table[^1].Position);
        Assert.Equal(position.ToString(CultureInfo.InvariantCulture), events[^1].Id);
        Assert.Contains(events, e => e.Type == EventTypes.TripCompleted && e.Data.GetProperty("id").GetGuid() == trip);
    }

    [Fact]
    public async Task SdkSubscription_WithAnIdTheServerCannotServe_ReloadsTheSnapshot_AndStreamsOnFromItsPosition()
    {
        var ct = TestContext.Current.CancellationToken;
        var chef = await app.ApiAsync("chef@demo.local");
        using var sdk = Sdk(app.BaseAddress, await app.TokenAsync("chef@demo.local"));
        var live = new LiveSubscription(sdk) { LastEventId = "99999999", ReconnectDelay = TimeSpan.FromMilliseconds(20) };
        var received = new Collector();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(20));
        var run = live.RunAsync(received.Add, stop.Token);

        var snapshot = await received.UntilAsync(e => e.Type == "snapshot", stop.Token);
        var position = snapshot.Data.GetProperty("position").GetInt64();
        Assert.Equal(await LiveAppFactory.HeadAsync(chef), position);
        await BumpOdometerAsync(chef, 0);
        var next = await received.UntilAsync(e => e.Type == EventTypes.OdometerRecorded, stop.Token);
        await stop.CancelAsync();
        await run;

        var events = received.Snapshot();
        Assert.Equal("snapshot", events[0].Type);
        Assert.Equal((position + 1).ToString(CultureInfo.InvariantCulture), next.Id);
        Assert.Equal(Enumerable.Range(1, events.Count - 1).Select(i => (position + i).ToString(CultureInfo.InvariantCulture)), events.Skip(1).Select(e => e.Id));
    }

    [Fact]
    public async Task SdkSubscription_GetsShutdownOnServerRestart_AndResumesWithoutGapOrDuplicate()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = AppFactory.NewDataDirectory();
        var first = new LiveAppFactory(directory, keepData: true, []);
        await using var proxy = new FaultyProxy(Endpoint(first.BaseAddress), cutChance: 0, seed: 1);
        var api = await first.ApiAsync("chef@demo.local");
        var token = await first.TokenAsync("chef@demo.local");
        var from = await LiveAppFactory.HeadAsync(api);
        var tokens = new MemoryTokenStore();
        tokens.Save(new TokenSet(token, "unused", DateTimeOffset.UtcNow.AddHours(1)));
        using var sdk = new FahrtenbuchClient(new Uri($"http://127.0.0.1:{proxy.Port}"), tokens);
        var live = new LiveSubscription(sdk) { LastEventId = from.ToString(CultureInfo.InvariantCulture), ReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(300) };
        var received = new Collector();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(40));
        var run = live.RunAsync(received.Add, stop.Token);
        LiveAppFactory? second = null;
        try
        {
            var vehicle = (await LiveAppFactory.VehiclesAsync(api))[0];
            await LiveAppFactory.RecordOdometerAsync(api, vehicle.Id, 970_000);
            await received.UntilAsync(from + 2, stop.Token);
            await first.DisposeAsync();
            await received.UntilAsync(e => e.Type == "shutdown", stop.Token);

            second = new LiveAppFactory(directory, keepData: false, []);
            tokens.Save(new TokenSet(await second.TokenAsync("chef@demo.local"), "unused", DateTimeOffset.UtcNow.AddHours(1)));
            proxy.Target = Endpoint(second.BaseAddress);
            var again = await second.ApiAsync("chef@demo.local");
            await LiveAppFactory.RecordOdometerAsync(again, vehicle.Id, 970_100);
            var head = await LiveAppFactory.HeadAsync(again);
            await received.UntilAsync(head, stop.Token);
            await stop.CancelAsync();
            await run;

            var events = received.Snapshot();
            Assert.Single(events, e => e.Type == "shutdown");
            Assert.Equal(Enumerable.Range((int)from + 1, (int)(head - from)).Select(p => p.ToString(CultureInfo.InvariantCulture)),
                events.Where(e => e.Type != "shutdown").Select(e => e.Id));
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task SyncConflict_ReachesTheManagersStreamAsNeedsReview_AndARejectedOperationIsFullOnlyForManagersAndTheSender()
    {
        var car = (await app.NewVehicleAsync(20_000)).Id;
        var anna = await app.ApiAsync("anna@demo.local");
        var ben = await app.ApiAsync("ben@demo.local");
        var head = await LiveAppFactory.HeadAsync(anna);
        var position = head.ToString(CultureInfo.InvariantCulture);
        await using var chefStream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), position);
        await using var annaStream = await app.OpenStreamAsync(await app.TokenAsync("anna@demo.local"), position);
        await using var benStream = await app.OpenStreamAsync(await app.TokenAsync("ben@demo.local"), position);

        var annaTrip = Guid.CreateVersion7();
        var benTrip = Guid.CreateVersion7();
        Assert.Equal("applied", (await SyncAsync(anna, Guid.NewGuid(), Op("trip.start", annaTrip, car, new { startOdometer = 20_000 }))).Result(0).Status());
        var conflict = await SyncAsync(ben, Guid.NewGuid(), Op("trip.start", benTrip, car, new { startOdometer = 20_000 }, DateTimeOffset.UtcNow.AddMinutes(-10)));
        Assert.Equal("conflict", conflict.Result(0).Status());

        var flagged = await chefStream.UntilAsync(i => i.EventType == EventTypes.TripNeedsReview && SseClient.Json(i).GetProperty("id").GetGuid() == benTrip);
        Assert.Contains("vehicle-in-use", SseClient.Json(flagged[^1]).GetProperty("reviewReasons").EnumerateArray().Select(r => r.GetString()));

        var rejected = await SyncAsync(anna, Guid.NewGuid(), Op("trip.complete", annaTrip, payload: Completion(19_000)));
        Assert.Equal("rejected", rejected.Result(0).Status());
        var operationId = rejected.Result(0).GetProperty("id").GetGuid();

        foreach (var stream in new[] { chefStream, annaStream })
        {
            var full = SseClient.Json((await stream.UntilAsync(i => i.EventType == EventTypes.SyncRejected))[^1]);
            Assert.Equal(operationId, full.GetProperty("id").GetGuid());
            Assert.False(string.IsNullOrEmpty(full.GetProperty("problem").GetProperty("code").GetString()));
            Assert.Equal(JsonValueKind.Object, full.GetProperty("payload").ValueKind);
        }

        var summary = SseClient.Json((await benStream.UntilAsync(i => i.EventType == EventTypes.SyncRejected))[^1]);
        Assert.Equal(operationId, summary.GetProperty("id").GetGuid());
        Assert.False(summary.TryGetProperty("problem", out _));
        Assert.False(summary.TryGetProperty("payload", out _));
    }

    [Fact]
    public async Task CliWatch_ShowsTripStartedAndCompleted_FromAnotherCliProcess()
    {
        var ct = TestContext.Current.CancellationToken;
        var server = app.BaseAddress.ToString();
        var chefState = Path.Combine(app.DataDirectory, "cli-chef");
        var annaState = Path.Combine(app.DataDirectory, "cli-anna");
        Assert.Equal(0, (await CliEndToEndTests.RunAsync(chefState, "login", "--server", server, "--email", "chef@demo.local", "--password", DemoData.Password)).Code);
        Assert.Equal(0, (await CliEndToEndTests.RunAsync(annaState, "login", "--server", server, "--email", "anna@demo.local", "--password", DemoData.Password)).Code);
        var plate = (await app.NewVehicleAsync(30_000)).Plate;
        Assert.Equal(0, (await CliEndToEndTests.RunAsync(annaState, "vehicles")).Code);

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { CliEndToEndTests.CliPath(), "watch", "--state-dir", chefState })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["COLUMNS"] = "200";
        using var watch = Process.Start(start)!;
        var lines = new List<string>();
        var seen = new SemaphoreSlim(0);
        watch.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(e.Data);
            }

            seen.Release();
        };
        watch.BeginOutputReadLine();
        try
        {
            // The watch streams from the moment it connects: nudge the log until it shows that it is connected.
            var chef = await app.ApiAsync("chef@demo.local");
            for (var i = 0; !Has(lines, EventTypes.OdometerRecorded); i++)
            {
                Assert.True(i < 60, "the watch never connected: " + string.Join('\n', lines));
                await BumpOdometerAsync(chef, 1);
                await seen.WaitAsync(TimeSpan.FromMilliseconds(500), ct);
            }

            var started = await CliEndToEndTests.RunAsync(annaState, "trip", "start", "--vehicle", plate);
            Assert.True(started.Code == 0, started.Output);
            var completed = await CliEndToEndTests.RunAsync(annaState, "trip", "complete", "--odometer", "30042", "--category", "private");
            Assert.True(completed.Code == 0, completed.Output);

            var deadline = Stopwatch.StartNew();
            while (!(Has(lines, EventTypes.TripStarted) && Has(lines, EventTypes.TripCompleted)) && deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await seen.WaitAsync(TimeSpan.FromMilliseconds(200), ct);
            }

            Assert.True(Has(lines, EventTypes.TripStarted) && Has(lines, EventTypes.TripCompleted), string.Join('\n', lines));
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
            await watch.WaitForExitAsync(ct);
        }
    }

    private static bool Has(List<string> lines, string type)
    {
        lock (lines)
        {
            return lines.Any(l => l.Contains($" {type} ", StringComparison.Ordinal) || l.EndsWith($" {type}", StringComparison.Ordinal));
        }
    }

    /// <summary>One more event in the log: a demo car's odometer a little further on.</summary>
    private static async Task BumpOdometerAsync(HttpClient chef, int index)
    {
        var vehicles = (await LiveAppFactory.VehiclesAsync(chef)).Where(v => v.Plate.StartsWith("M FB", StringComparison.Ordinal)).OrderBy(v => v.Plate).ToList();
        var vehicle = vehicles[index % vehicles.Count];
        await LiveAppFactory.RecordOdometerAsync(chef, vehicle.Id, vehicle.CurrentOdometer + 10);
    }

    private static IPEndPoint Endpoint(Uri address) => new(IPAddress.Loopback, address.Port);

    private static FahrtenbuchClient Sdk(Uri address, string token)
    {
        var tokens = new MemoryTokenStore();
        tokens.Save(new TokenSet(token, "unused", DateTimeOffset.UtcNow.AddHours(1)));
        return new FahrtenbuchClient(address, tokens);
    }

    /// <summary>Events handed to the SDK's callback, with a way to wait for one.</summary>
    private sealed class Collector
    {
        private readonly List<LiveEvent> _events = [];
        private readonly SemaphoreSlim _arrived = new(0);

        public ValueTask Add(LiveEvent e)
        {
            lock (_events)
            {
                _events.Add(e);
            }

            _arrived.Release();
            return ValueTask.CompletedTask;
        }

        public List<LiveEvent> Snapshot()
        {
            lock (_events)
            {
                return [.. _events];
            }
        }

        public Task<LiveEvent> UntilAsync(long position, CancellationToken cancellationToken) =>
            UntilAsync(e => e.Id is { } id && long.TryParse(id, CultureInfo.InvariantCulture, out var p) && p >= position, cancellationToken);

        public async Task<LiveEvent> UntilAsync(Func<LiveEvent, bool> match, CancellationToken cancellationToken)
        {
            while (true)
            {
                var found = Snapshot().LastOrDefault(match);
                if (found is not null)
                {
                    return found;
                }

                await _arrived.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
    }
}
