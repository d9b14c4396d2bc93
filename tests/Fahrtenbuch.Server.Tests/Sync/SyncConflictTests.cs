using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Sync;
using Microsoft.EntityFrameworkCore;
using static Fahrtenbuch.Server.Tests.Sync.SyncApi;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>The conflict matrix: each kind of clash keeps every trip, flags them with machine-readable reasons and lists them for review.</summary>
public sealed class SyncConflictTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OfflineStart_OnACarStartedMeanwhile_KeepsBothTripsFlaggedVehicleInUse()
    {
        var (anna, _) = await app.NewDriverAsync();
        var (ben, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(20_000);
        var offlineStart = Instants.Normalize(DateTimeOffset.UtcNow.AddMinutes(-30));
        var benTrip = Guid.CreateVersion7();
        (await ben.PostAsJsonAsync("/api/trips", new { id = benTrip, vehicleId = car, startOdometer = 20_000 }, Ct)).EnsureSuccessStatusCode();

        var annaTrip = Guid.CreateVersion7();
        var response = await SyncAsync(anna, Guid.NewGuid(),
            Op("trip.start", annaTrip, car, new { startOdometer = 20_000, startPlace = "Garage" }, offlineStart));

        var result = response.Result(0);
        Assert.Equal("conflict", result.Status());
        Assert.Contains("vehicle-in-use", result.Reasons());
        Assert.Equal(annaTrip, result.GetProperty("tripId").GetGuid());
        var annas = result.GetProperty("trip");
        Assert.Equal("active", annas.GetProperty("state").GetString());
        Assert.Equal("Garage", annas.GetProperty("startPlace").GetString());
        Assert.Equal(offlineStart.UtcTicks, annas.GetProperty("startedAt").GetDateTimeOffset().UtcTicks);

        var bens = await GetJsonAsync(ben, $"/api/trips/{benTrip}");
        Assert.Equal("pending", bens.GetProperty("review").GetString());
        Assert.Contains("vehicle-in-use", bens.Reasons());
        Assert.Equal("active", bens.GetProperty("state").GetString());

        var queue = await GetJsonAsync(await app.LoginAsync("chef@demo.local"), "/api/review");
        var listed = queue.GetProperty("trips").EnumerateArray().Select(t => t.GetProperty("trip").GetProperty("id").GetGuid()).ToList();
        Assert.Contains(annaTrip, listed);
        Assert.Contains(benTrip, listed);

        // The board still answers with two active trips on one car, and both can be completed.
        Assert.Equal("in-use", (await GetJsonAsync(ben, $"/api/vehicles/{car}")).GetProperty("availability").GetString());
        (await ben.PostAsJsonAsync($"/api/trips/{benTrip}/complete", Completion(20_040), Ct)).EnsureSuccessStatusCode();
        Assert.Equal("in-use", (await GetJsonAsync(ben, $"/api/vehicles/{car}")).GetProperty("availability").GetString());
        var done = await SyncAsync(anna, Guid.NewGuid(), Op("trip.complete", annaTrip, payload: Completion(20_035)));
        Assert.Equal("conflict", done.Result(0).Status());
        Assert.Equal("available", (await GetJsonAsync(ben, $"/api/vehicles/{car}")).GetProperty("availability").GetString());
    }

    [Fact]
    public async Task OfflineTrips_OverlappingInTimeAndOdometer_AreBothKeptAndFlagged()
    {
        var (anna, _) = await app.NewDriverAsync();
        var (ben, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(30_000);
        var t0 = DateTimeOffset.UtcNow.AddHours(-5);
        var annaTrip = Guid.CreateVersion7();
        var benTrip = Guid.CreateVersion7();

        var first = await SyncAsync(anna, Guid.NewGuid(),
            Op("trip.start", annaTrip, car, new { startOdometer = 30_000 }, t0),
            Op("trip.complete", annaTrip, payload: Completion(30_050), capturedAt: t0.AddHours(1)));
        Assert.Equal(["applied", "applied"], first.GetProperty("results").EnumerateArray().Select(r => r.Status()));

        var second = await SyncAsync(ben, Guid.NewGuid(),
            Op("trip.start", benTrip, car, new { startOdometer = 30_020 }, t0.AddMinutes(30)),
            Op("trip.complete", benTrip, payload: Completion(30_080), capturedAt: t0.AddMinutes(90)));
        Assert.Equal("conflict", second.Result(0).Status());
        Assert.Contains("odometer-backwards", second.Result(0).Reasons());
        var completed = second.Result(1);
        Assert.Equal("conflict", completed.Status());
        Assert.Contains("odometer-overlap", completed.Reasons());
        Assert.Contains("time-overlap", completed.Reasons());

        var annas = await GetJsonAsync(anna, $"/api/trips/{annaTrip}");
        Assert.Equal("pending", annas.GetProperty("review").GetString());
        Assert.Contains("odometer-overlap", annas.Reasons());
        Assert.Contains("time-overlap", annas.Reasons());
        Assert.Equal(30_050, annas.GetProperty("endOdometer").GetInt32());
        var bens = await GetJsonAsync(ben, $"/api/trips/{benTrip}");
        Assert.Equal(30_020, bens.GetProperty("startOdometer").GetInt32());
        Assert.Equal(30_080, bens.GetProperty("endOdometer").GetInt32());
        Assert.Equal(30_080, await OdometerAsync(ben, car));
    }

    [Fact]
    public async Task OfflineStart_WithTheOdometerGoingBackwards_IsKeptAndFlagged()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(40_000);
        var trip = Guid.CreateVersion7();
        var response = await SyncAsync(anna, Guid.NewGuid(), Op("trip.start", trip, car, new { startOdometer = 39_000 }));

        Assert.Equal("conflict", response.Result(0).Status());
        Assert.Equal(["odometer-backwards"], response.Result(0).Reasons());
        Assert.Equal(39_000, response.Result(0).GetProperty("trip").GetProperty("startOdometer").GetInt32());
        Assert.Equal(40_000, await OdometerAsync(anna, car));

        var reading = await SyncAsync(anna, Guid.NewGuid(), Op("odometer.record", vehicleId: car, payload: new { value = 38_000 }));
        Assert.Equal("conflict", reading.Result(0).Status());
        Assert.Equal(["odometer-backwards"], reading.Result(0).Reasons());
    }

    [Fact]
    public async Task TripCompletedOnTwoDevices_KeepsTheFirstCompletion_AndTheSecondForReview()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(50_000);
        var trip = Guid.CreateVersion7();
        await SyncAsync(anna, Guid.NewGuid(), Op("trip.start", trip, car, new { startOdometer = 50_000 }));

        var phone = await SyncAsync(anna, Guid.NewGuid(), Op("trip.complete", trip, payload: Completion(50_100, "commute")));
        var tablet = await SyncAsync(anna, Guid.NewGuid(), Op("trip.complete", trip, payload: Completion(50_120, "commute")));

        Assert.Equal("applied", phone.Result(0).Status());
        var second = tablet.Result(0);
        Assert.Equal("conflict", second.Status());
        Assert.Equal(["completed-twice"], second.Reasons());
        Assert.Equal(50_100, second.GetProperty("trip").GetProperty("endOdometer").GetInt32());

        var queue = await GetJsonAsync(await app.LoginAsync("chef@demo.local"), "/api/review");
        var item = queue.GetProperty("trips").EnumerateArray().Single(t => t.GetProperty("trip").GetProperty("id").GetGuid() == trip);
        var completions = item.GetProperty("operations").EnumerateArray().Where(o => o.GetProperty("type").GetString() == "trip.complete").ToList();
        Assert.Equal(2, completions.Count);
        Assert.Equal(50_120, completions[1].GetProperty("payload").GetProperty("endOdometer").GetInt32());
        Assert.Equal("conflict", completions[1].GetProperty("status").GetString());
    }

    [Fact]
    public async Task InvalidOperations_AreRejectedPerOperation_AndKeptForTheFleetManager()
    {
        var (anna, annaId) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(60_000);
        var trip = Guid.CreateVersion7();
        var response = await SyncAsync(anna, Guid.NewGuid(),
            Op("trip.start", trip, car, new { startOdometer = 60_000 }),
            Op("trip.complete", trip, payload: Completion(59_000)),
            Op("trip.complete", trip, payload: new { endOdometer = 60_010, category = "business", destination = "Kunde", purpose = "Termin" }),
            Op("trip.teleport", trip),
            Op("trip.complete", trip, payload: Completion(60_010)));

        var statuses = response.GetProperty("results").EnumerateArray().Select(r => r.Status()).ToList();
        Assert.Equal(["applied", "rejected", "rejected", "rejected", "applied"], statuses);
        Assert.Equal("trip.odometer-below-start", response.Result(1).GetProperty("problem").GetProperty("code").GetString());
        Assert.Equal("trip.business-details-required", response.Result(2).GetProperty("problem").GetProperty("code").GetString());
        Assert.Equal("sync.unknown-type", response.Result(3).GetProperty("problem").GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, response.Result(1).GetProperty("trip").ValueKind);

        var queue = await GetJsonAsync(await app.LoginAsync("chef@demo.local"), "/api/review");
        var rejected = queue.GetProperty("rejectedOperations").EnumerateArray().Where(o => o.GetProperty("userId").GetGuid() == annaId).ToList();
        Assert.Equal(3, rejected.Count);
        Assert.Equal(59_000, rejected[0].GetProperty("payload").GetProperty("endOdometer").GetInt32());

        var stored = await app.QueryAsync(db => db.SyncOperations.IgnoreQueryFilters().CountAsync(o => o.UserId == annaId && o.Status == SyncStatus.Rejected, Ct));
        Assert.Equal(3, stored);
        Assert.Equal(60_010, (await GetJsonAsync(anna, $"/api/trips/{trip}")).GetProperty("endOdometer").GetInt32());
    }

    [Fact]
    public async Task FleetManager_ResolvesReviews_ByAcceptVoidAndCorrect_EachWithItsEvent()
    {
        var (anna, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(70_000);
        var trips = new[] { Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7() };
        var t0 = DateTimeOffset.UtcNow.AddDays(-1);
        foreach (var (trip, i) in trips.Select((t, i) => (t, i)))
        {
            await SyncAsync(anna, Guid.NewGuid(),
                Op("trip.start", trip, car, new { startOdometer = 69_000 + i }, t0.AddHours(i)),
                Op("trip.complete", trip, payload: Completion(69_010 + i), capturedAt: t0.AddHours(i).AddMinutes(30)));
        }

        var chef = await app.LoginAsync("chef@demo.local");
        var before = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == "trip.review-resolved", Ct));
        // Notes and reasons of the longest allowed length still fit once prefixed with the outcome (PostgreSQL enforces the column).
        var note = "Tacho getauscht " + new string('.', 484);
        (await chef.PostAsJsonAsync($"/api/review/trips/{trips[0]}/accept", new { note }, Ct)).EnsureSuccessStatusCode();
        (await chef.PostAsJsonAsync($"/api/review/trips/{trips[1]}/void", new { reason = "Doppelt erfasst " + new string('.', 484) }, Ct)).EnsureSuccessStatusCode();
        var corrected = await chef.PostAsJsonAsync($"/api/review/trips/{trips[2]}/correct", new { reason = "Zweck ergänzt", category = "commute" }, Ct);
        corrected.EnsureSuccessStatusCode();

        Assert.Equal("resolved", (await GetJsonAsync(chef, $"/api/trips/{trips[0]}")).GetProperty("review").GetString());
        var voided = await GetJsonAsync(chef, $"/api/trips/{trips[1]}");
        Assert.Equal("voided", voided.GetProperty("state").GetString());
        Assert.Equal("resolved", voided.GetProperty("review").GetString());
        var revised = await GetJsonAsync(chef, $"/api/trips/{trips[2]}");
        Assert.Single(revised.GetProperty("revisions").EnumerateArray());
        Assert.Contains("odometer-backwards", revised.Reasons());
        var after = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == "trip.review-resolved", Ct));
        Assert.Equal(before + 3, after);

        var again = await chef.PostAsJsonAsync($"/api/review/trips/{trips[0]}/accept", new { note = (string?)null }, Ct);
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.Conflict, "review.not-pending");
    }
}
