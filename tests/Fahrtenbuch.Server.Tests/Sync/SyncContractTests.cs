using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using static Fahrtenbuch.Server.Tests.Sync.SyncApi;

namespace Fahrtenbuch.Server.Tests.Sync;

public sealed class SmallSyncLimitsApp : AppFactory
{
    protected override Dictionary<string, string?> Settings => new()
    {
        ["Sync:MaxOperations"] = "10",
        ["Sync:MaxRequestBodyBytes"] = "8192",
    };
}

/// <summary>Replays, limits and who may use sync and review.</summary>
public sealed class SyncContractTests(SmallSyncLimitsApp app) : IClassFixture<SmallSyncLimitsApp>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReplayedBatch_AnswersAlreadyApplied_WithTheSameResults_AndChangesNothing()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(10_000);
        var trip = Guid.CreateVersion7();
        var device = Guid.NewGuid();
        JsonObject[] batch =
        [
            Op("trip.start", trip, car, new { startOdometer = 9_990 }),
            Op("trip.complete", trip, payload: Completion(10_020)),
            Op("odometer.record", vehicleId: car, payload: new { value = 10_030, note = "Tanken" }),
            Op("trip.cancel", trip, payload: new { reason = "" }),
        ];

        var first = await SyncAsync(anna, device, batch);
        var fingerprint = await app.FingerprintAsync();
        var second = await SyncAsync(anna, device, batch);

        Assert.Equal(["conflict", "conflict", "applied", "rejected"], first.GetProperty("results").EnumerateArray().Select(r => r.Status()));
        Assert.Equal(["already-applied", "already-applied", "already-applied", "rejected"], second.GetProperty("results").EnumerateArray().Select(r => r.Status()));
        for (var i = 0; i < batch.Length; i++)
        {
            Assert.Equal(first.Result(i).GetProperty("id").GetGuid(), second.Result(i).GetProperty("id").GetGuid());
            Assert.Equal(first.Result(i).GetProperty("tripId").ToString(), second.Result(i).GetProperty("tripId").ToString());
            Assert.Equal(first.Result(i).Reasons(), second.Result(i).Reasons());
            Assert.Equal(first.Result(i).GetProperty("problem").ToString(), second.Result(i).GetProperty("problem").ToString());
        }

        Assert.Equal(fingerprint, await app.FingerprintAsync());
        Assert.Equal(first.GetProperty("position").GetInt64(), second.GetProperty("position").GetInt64());
    }

    [Fact]
    public async Task SameTripSentByRestAndBySync_IsStoredOnce()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(10_000);
        var trip = Guid.CreateVersion7();
        (await anna.PostAsJsonAsync("/api/trips", new { id = trip, vehicleId = car }, Ct)).EnsureSuccessStatusCode();

        var response = await SyncAsync(anna, Guid.NewGuid(), Op("trip.start", trip, car));

        Assert.Equal("already-applied", response.Result(0).Status());
        Assert.Equal(1, (await GetJsonAsync(anna, $"/api/trips?vehicleId={car}")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task TooManyOperations_AreRefusedWith413_AndChangeNothing()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync();
        var fingerprint = await app.FingerprintAsync();
        var ops = Enumerable.Range(0, 11).Select(i => Op("odometer.record", vehicleId: car, payload: new { value = 10_000 + i })).ToArray();

        var response = await PostAsync(anna, Guid.NewGuid(), ops);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "sync.too-many-operations");
        Assert.Equal(fingerprint, await app.FingerprintAsync());
    }

    [Fact]
    public async Task OversizedBody_IsRefusedWith413()
    {
        var (anna, _) = await app.NewDriverAsync();
        var op = Op("odometer.record", vehicleId: Guid.NewGuid(), payload: new { value = 1, note = new string('x', 9000) });

        var response = await PostAsync(anna, Guid.NewGuid(), op);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "request.too-large");
    }

    [Fact]
    public async Task MissingDeviceId_IsRefusedWith422()
    {
        var (anna, _) = await app.NewDriverAsync();
        var response = await anna.PostAsync("/api/sync", new StringContent("""{"operations":[]}""", Encoding.UTF8, "application/json"), Ct);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "sync.device-id-required");
    }

    [Fact]
    public async Task Sync_RequiresSignIn_AndAWritingRole()
    {
        var anonymous = await PostAsync(app.CreateClient(), Guid.NewGuid());
        await ProblemAssert.IsProblemAsync(anonymous, HttpStatusCode.Unauthorized, "auth.unauthenticated");

        var auditor = await PostAsync(await app.LoginAsync("pruefer@demo.local"), Guid.NewGuid());
        await ProblemAssert.IsProblemAsync(auditor, HttpStatusCode.Forbidden, "auth.forbidden");
    }

    [Fact]
    public async Task ReviewQueue_IsForManagersAndAuditors_AndOnlyManagersResolve_NeverTheirOwnTrip()
    {
        var (anna, _) = await app.NewDriverAsync();
        await ProblemAssert.IsProblemAsync(await anna.GetAsync("/api/review", Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(await app.CreateClient().GetAsync("/api/review", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        var auditor = await app.LoginAsync("pruefer@demo.local");
        Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync("/api/review", Ct)).StatusCode);

        var car = await app.NewVehicleAsync(5_000);
        var chef = await app.LoginAsync("chef@demo.local");
        var own = Guid.CreateVersion7();
        var flagged = await SyncAsync(chef, Guid.NewGuid(), Op("trip.start", own, car, new { startOdometer = 4_000 }));
        Assert.Equal("conflict", flagged.Result(0).Status());

        await ProblemAssert.IsProblemAsync(
            await chef.PostAsJsonAsync($"/api/review/trips/{own}/accept", new { note = "passt" }, Ct), HttpStatusCode.Forbidden, "review.own-trip");
        await ProblemAssert.IsProblemAsync(
            await auditor.PostAsJsonAsync($"/api/review/trips/{own}/accept", new { note = "passt" }, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(
            await anna.PostAsJsonAsync($"/api/review/trips/{own}/void", new { reason = "nein" }, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal("pending", (await GetJsonAsync(chef, $"/api/trips/{own}")).GetProperty("review").GetString());
    }
}

/// <summary>
/// A large backlog in one request, against the default limits; prints how long it took. The suite sends
/// 400 operations to stay quick; <c>SYNC_VOLUME_PAIRS=2500</c> sends the full 5,000 for a measurement.
/// </summary>
public sealed class SyncVolumeTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static readonly int Pairs = int.TryParse(Environment.GetEnvironmentVariable("SYNC_VOLUME_PAIRS"), out var n) ? n : 200;

    [Fact]
    public async Task FiveThousandOperations_GoThroughInOneRequest()
    {
        var (anna, _) = await app.NewDriverAsync();
        anna.Timeout = TimeSpan.FromMinutes(10);
        var car = await app.NewVehicleAsync(100_000);
        var t0 = DateTimeOffset.UtcNow.AddDays(-30);
        var ops = new List<JsonObject>();
        for (var i = 0; i < Pairs; i++)
        {
            var trip = Guid.CreateVersion7();
            var start = t0.AddMinutes(i * 10);
            ops.Add(Op("trip.start", trip, car, new { startOdometer = 100_000 + (i * 10) }, start));
            ops.Add(Op("trip.complete", trip, payload: Completion(100_000 + (i * 10) + 8), capturedAt: start.AddMinutes(5)));
        }

        var watch = Stopwatch.StartNew();
        var response = await SyncAsync(anna, Guid.NewGuid(), [.. ops]);
        var applied = watch.Elapsed;
        watch.Restart();
        var replay = await SyncAsync(anna, Guid.NewGuid(), [.. ops]);
        var replayed = watch.Elapsed;

        TestContext.Current.SendDiagnosticMessage($"{Pairs * 2} sync operations: applied in {applied.TotalSeconds:F1} s, replayed in {replayed.TotalSeconds:F1} s");
        Console.WriteLine($"[measure] {Pairs * 2} sync operations on SQLite: applied in {applied.TotalSeconds:F1} s, replayed in {replayed.TotalSeconds:F1} s");
        Assert.All(response.GetProperty("results").EnumerateArray(), r => Assert.Equal("applied", r.Status()));
        Assert.All(replay.GetProperty("results").EnumerateArray(), r => Assert.Equal("already-applied", r.Status()));
        Assert.Equal(Pairs, (await GetJsonAsync(anna, $"/api/trips?vehicleId={car}&pageSize=1")).GetProperty("total").GetInt32());
    }
}
