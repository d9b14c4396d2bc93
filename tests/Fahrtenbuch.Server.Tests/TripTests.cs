using System.Net;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>The trip lifecycle's happy paths, reads, privacy and the list's filters and paging.</summary>
public sealed class TripTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartTrip_PrefillsTheStartOdometer_FromTheVehiclesLastReading()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 12_345);
        var (driver, driverId, _, _) = await app.NewDriverAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, "Hof"));
        var trip = await response.ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal($"/api/trips/{trip.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal(TripState.Active, trip.State);
        Assert.Equal(12_345, trip.StartOdometer);
        Assert.Equal(driverId, trip.DriverId);
        Assert.Equal("Hof", trip.StartPlace);
        Assert.Null(trip.GapBeforeKm);
        Assert.False(trip.EnteredLate);
        Assert.Equal(ReviewState.None, trip.Review);
        var events = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().Where(e => e.TripId == trip.Id || e.VehicleId == vehicle.Id)
            .OrderBy(e => e.Position).Select(e => e.Type).ToListAsync(Ct));
        Assert.Equal(["vehicle.created", "trip.started", "vehicle.status"], events);
    }

    [Fact]
    public async Task CompleteTrip_StoresTheDetails_AndFreesTheVehicleWithTheNewOdometer()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 1_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);

        var completed = await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(1_087));

        Assert.Equal(TripState.Completed, completed.State);
        Assert.Equal(1_087, completed.EndOdometer);
        Assert.Equal(87, completed.DistanceKm);
        Assert.Equal(TripCategory.Business, completed.Category);
        Assert.Equal("Müller GmbH", completed.BusinessPartner);
        Assert.NotNull(completed.EndedAt);
        Assert.NotNull(completed.CompletedRecordedAt);
        var board = await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}");
        Assert.Equal(VehicleAvailability.Available, board.Availability);
        Assert.Equal(1_087, board.CurrentOdometer);
    }

    [Fact]
    public async Task TripWrites_AppendTheVehiclesBoardRow_AsTheBoardShowsItAfterTheWrite()
    {
        // A trip write saves its changes only with its events, so the board row it appends is built from what the write
        // tracks; it must still be the row the board reads from the database afterwards.
        var vehicle = await app.NewVehicleAsync(odometer: 5_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();

        var trip = await driver.StartTripAsync(vehicle.Id);
        var started = await LastStatusAsync(vehicle.Id);
        Assert.Equal(VehicleAvailability.InUse, started.Availability);
        Assert.Equal((trip.Id, driverId, 5_000), (started.InUse!.TripId, started.InUse.DriverId, started.InUse.StartOdometer));
        Assert.Equal(await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}"), started);

        await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(5_042));
        var free = await LastStatusAsync(vehicle.Id);
        Assert.Equal((VehicleAvailability.Available, null, 5_042), (free.Availability, free.InUse, free.CurrentOdometer));
        Assert.Equal(await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}"), free);
    }

    private Task<VehicleResponse> LastStatusAsync(Guid vehicleId) => app.QueryAsync(async db =>
        System.Text.Json.JsonSerializer.Deserialize<VehicleResponse>(
            await db.Events.IgnoreQueryFilters().Where(e => e.VehicleId == vehicleId && e.Type == "vehicle.status")
                .OrderByDescending(e => e.Position).Select(e => e.Data).FirstAsync(Ct),
            TestJson.Options)!);

    [Fact]
    public async Task TripEvents_NameTheDriverTheAssignedDriverAndTheRevisionsAuthor_AsTheReadsDo()
    {
        // A trip write reads only the names its events show, not every user of the company: they must be the ones a read shows.
        var chef = await app.As(TestApi.Chef);
        var ben = await (await app.As(TestApi.Ben)).UserIdAsync();
        var vehicle = await (await chef.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(TestApi.NewPlate(), "Dienstwagen", 7_000, ben)))
            .ReadAsync<VehicleResponse>(HttpStatusCode.Created);
        var (driver, driverId, _, _) = await app.NewDriverAsync();

        var trip = await driver.StartTripAsync(vehicle.Id);
        var started = await LastStatusAsync(vehicle.Id);
        Assert.Equal(("Test Driver", "Ben Becker"), (started.InUse!.DriverName, started.AssignedDriverName));
        Assert.Equal(await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}"), started);
        Assert.Equal("Test Driver", (await LastTripEventAsync(trip.Id, "trip.started")).DriverName);

        await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(7_030));
        Assert.Equal("Ben Becker", (await LastStatusAsync(vehicle.Id)).AssignedDriverName);
        (await chef.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new { reason = "Tippfehler", purpose = "Vertragsverhandlung" })).EnsureSuccessStatusCode();
        var corrected = await LastTripEventAsync(trip.Id, "trip.corrected");
        var read = await chef.GetTripAsync(trip.Id);
        Assert.Equal((driverId, "Test Driver"), (corrected.DriverId, corrected.DriverName));
        Assert.Equal("Christa Chef", Assert.Single(corrected.Revisions).ChangedByName);
        Assert.Equal(read.Revisions.Select(r => (r.ChangedBy, r.ChangedByName)), corrected.Revisions.Select(r => (r.ChangedBy, r.ChangedByName)));
    }

    [Fact]
    public async Task UserNamesByIds_AreThoseOfTheCompanysUsersOnly_InOneStatementOrBeyond()
    {
        var chef = await (await app.As(TestApi.Chef)).UserIdAsync();
        var anna = await (await app.As(TestApi.Anna)).UserIdAsync();
        var otherCompanys = await (await app.As(TestApi.OtherChef)).UserIdAsync();
        var company = await app.QueryAsync(db => db.Users.Where(u => u.Id == chef).Select(u => u.CompanyId).SingleAsync(Ct));
        await using var scope = app.CompanyScope(company);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();

        var few = await db.UserNamesAsync([chef, anna, anna, otherCompanys, Guid.CreateVersion7()], Ct);
        Assert.Equal([(anna, "Anna Albers"), (chef, "Christa Chef")], few.Select(n => (n.Key, n.Value)).OrderBy(n => n.Value));

        // More people than one statement binds: the company's names are read whole, still none of another company.
        var many = await db.UserNamesAsync([chef, anna, otherCompanys, .. Enumerable.Range(0, 40).Select(_ => Guid.CreateVersion7())], Ct);
        Assert.Equal(("Christa Chef", "Anna Albers"), (many[chef], many[anna]));
        Assert.DoesNotContain(otherCompanys, many.Keys);
        Assert.Empty(await db.UserNamesAsync([], Ct));
    }

    private Task<TripResponse> LastTripEventAsync(Guid tripId, string type) => app.QueryAsync(async db =>
        System.Text.Json.JsonSerializer.Deserialize<TripResponse>(
            await db.Events.IgnoreQueryFilters().Where(e => e.TripId == tripId && e.Type == type)
                .OrderByDescending(e => e.Position).Select(e => e.Data).FirstAsync(Ct),
            TestJson.Options)!);

    [Fact]
    public async Task CompleteTrip_ReturnsTheTrip_WhenTheSameCompletionIsResent()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var again = await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(trip.EndOdometer!.Value));

        Assert.Equal(trip.Id, again.Id);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CompleteTrip_AllowsPrivateAndCommuteTrips_WithoutBusinessDetails()
    {
        var (privateTrip, _, _) = await app.CompletedTripAsync(TripCategory.Private);
        var (commute, _, _) = await app.CompletedTripAsync(TripCategory.Commute);

        Assert.Equal(TripCategory.Private, privateTrip.Category);
        Assert.Null(privateTrip.BusinessPartner);
        Assert.Equal(TripCategory.Commute, commute.Category);
    }

    [Fact]
    public async Task CancelTrip_KeepsTheTripWithItsReason_AndFreesTheVehicle()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);

        var cancelled = await (await driver.PostJsonAsync($"/api/trips/{trip.Id}/cancel", new ReasonRequest("Falsches Auto genommen"))).ReadAsync<TripResponse>(HttpStatusCode.OK);

        Assert.Equal(TripState.Cancelled, cancelled.State);
        Assert.Equal("Falsches Auto genommen", cancelled.CancelReason);
        Assert.Equal(driverId, cancelled.ClosedBy);
        var stored = await driver.GetTripAsync(trip.Id);
        Assert.Equal(TripState.Cancelled, stored.State);
        Assert.Equal(VehicleAvailability.Available, (await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).Availability);
        var listed = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips?state=cancelled");
        Assert.Contains(listed.Items, t => t.Id == trip.Id);
        var next = await driver.StartTripAsync(vehicle.Id);
        Assert.Equal(TripState.Active, next.State);
    }

    [Fact]
    public async Task VoidTrip_KeepsTheTripVisible_MarkedVoidWithTheReason()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var chef = await app.As(TestApi.Chef);

        var voided = await (await chef.PostJsonAsync($"/api/trips/{trip.Id}/void", new ReasonRequest("Doppelt erfasst"))).ReadAsync<TripResponse>(HttpStatusCode.OK);

        Assert.Equal(TripState.Voided, voided.State);
        Assert.Equal("Doppelt erfasst", voided.VoidReason);
        Assert.Equal(trip.EndOdometer, voided.EndOdometer);
        var stored = await driver.GetTripAsync(trip.Id);
        Assert.Equal(TripState.Voided, stored.State);
        Assert.Equal("Doppelt erfasst", stored.VoidReason);
        Assert.Equal(1, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().CountAsync(t => t.Id == trip.Id, Ct)));
    }

    [Fact]
    public async Task RecordTripAfterwards_MarksItLate_WithTheDrivenAndTheRecordedTime()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 50_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var startedAt = Instants.Normalize(DateTimeOffset.UtcNow.AddDays(-2));
        var endedAt = startedAt.AddHours(1);

        var response = await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, startedAt, endedAt, 50_000, 50_060, TripCategory.Business, "Hof", "Linz", "Kunde Huber, Linz", "Angebot", "Huber AG"));
        var trip = await response.ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.True(trip.EnteredLate);
        Assert.Equal(TripState.Completed, trip.State);
        Assert.Equal(driverId, trip.DriverId);
        Assert.Equal(startedAt, trip.StartedAt);
        Assert.Equal(endedAt, trip.EndedAt);
        Assert.True(trip.RecordedAt > endedAt.AddDays(1), "The recorded time is when the server got the entry, not when it was driven.");
        Assert.Equal(trip.RecordedAt, trip.CompletedRecordedAt);
        var late = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips?enteredLate=true");
        Assert.Equal(trip.Id, Assert.Single(late.Items).Id);
    }

    [Fact]
    public async Task RecordTripAfterwards_LetsTheFleetManagerEnterATripForADriver()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 60_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var chef = await app.As(TestApi.Chef);
        var startedAt = DateTimeOffset.UtcNow.AddDays(-1);

        var trip = await (await chef.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, driverId, startedAt, startedAt.AddMinutes(30), 60_000, 60_020, TripCategory.Commute, null, null, null, null, null)))
            .ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal(driverId, trip.DriverId);
        Assert.Contains((await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips")).Items, t => t.Id == trip.Id);
    }

    [Fact]
    public async Task CorrectTrip_RecordsARevisionWithWhoWhenWhyOldAndNew_ReturnedWithTheTrip()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var driverId = await driver.UserIdAsync();

        var corrected = await (await driver.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("Tippfehler", null, null, "Wartung und Abnahme", null, null, null)))
            .ReadAsync<TripResponse>(HttpStatusCode.OK);

        Assert.Equal("Wartung und Abnahme", corrected.Purpose);
        var revision = Assert.Single(corrected.Revisions);
        Assert.Equal(1, revision.Number);
        Assert.Equal(driverId, revision.ChangedBy);
        Assert.Equal("Test Driver", revision.ChangedByName);
        Assert.Equal("Tippfehler", revision.Reason);
        Assert.InRange(revision.ChangedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        var change = Assert.Single(revision.Changes);
        Assert.Equal(("purpose", "Wartungstermin", "Wartung und Abnahme"), (change.Field, change.OldValue, change.NewValue));

        var chef = await app.As(TestApi.Chef);
        await (await chef.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("Ziel genauer", null, "Müller GmbH, Augsburg-Lechhausen", null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.OK);
        var stored = await chef.GetTripAsync(trip.Id);
        Assert.Equal([1, 2], stored.Revisions.Select(r => r.Number));
        Assert.Equal("Christa Chef", stored.Revisions[1].ChangedByName);
        Assert.Equal("Kunde Müller, Augsburg", stored.Revisions[1].Changes.Single().OldValue);
        Assert.Equal(trip.StartOdometer, stored.StartOdometer);
        Assert.Equal(trip.EndOdometer, stored.EndOdometer);
    }

    [Fact]
    public async Task GetTrip_ShowsAnotherDriversTripRestricted_WithoutDestinationPurposeOrPartner()
    {
        var (trip, _, _) = await app.CompletedTripAsync();
        var anna = await app.As(TestApi.Anna);

        var seen = await anna.GetTripAsync(trip.Id);

        Assert.True(seen.Restricted);
        Assert.Null(seen.Destination);
        Assert.Null(seen.Purpose);
        Assert.Null(seen.BusinessPartner);
        Assert.Null(seen.StartPlace);
        Assert.Null(seen.EndPlace);
        Assert.Empty(seen.Revisions);
        Assert.Equal(42, seen.DistanceKm);
    }

    [Fact]
    public async Task GetTrip_ShowsTheDriverTheirOwnTripAndTheManagerABusinessTrip_InFull()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var chef = await app.As(TestApi.Chef);
        var auditor = await app.As(TestApi.Auditor);

        foreach (var client in new[] { driver, chef, auditor })
        {
            var seen = await client.GetTripAsync(trip.Id);
            Assert.False(seen.Restricted);
            Assert.Equal("Müller GmbH", seen.BusinessPartner);
        }
    }

    [Fact]
    public async Task GetTrip_ShowsAPrivateTripToTheFleetManager_AsKilometresOnly()
    {
        var (trip, driver, _) = await app.CompletedTripAsync(TripCategory.Private);
        var chef = await app.As(TestApi.Chef);

        var seenByChef = await chef.GetTripAsync(trip.Id);
        var seenByDriver = await driver.GetTripAsync(trip.Id);

        Assert.True(seenByChef.Restricted);
        Assert.Null(seenByChef.Destination);
        Assert.Null(seenByChef.EndPlace);
        Assert.Equal(42, seenByChef.DistanceKm);
        Assert.False(seenByDriver.Restricted);
        Assert.Equal("Zuhause", seenByDriver.Destination);
        var listed = await chef.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?vehicleId={trip.VehicleId}");
        Assert.True(Assert.Single(listed.Items).Restricted);
    }

    [Fact]
    public async Task ListTrips_ShowsADriverOnlyTheirOwnTrips()
    {
        var (own, driver, _) = await app.CompletedTripAsync();
        var (other, otherDriver, _) = await app.CompletedTripAsync();
        var otherId = await otherDriver.UserIdAsync();

        var mine = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips");
        var asked = await driver.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?driverId={otherId}");

        Assert.Equal(own.Id, Assert.Single(mine.Items).Id);
        Assert.Equal(1, mine.Total);
        Assert.Empty(asked.Items);
        var chefView = await (await app.As(TestApi.Chef)).GetJsonAsync<PagedList<TripResponse>>("/api/trips?pageSize=500");
        Assert.Contains(chefView.Items, t => t.Id == own.Id);
        Assert.Contains(chefView.Items, t => t.Id == other.Id);
    }

    [Fact]
    public async Task ListTrips_FiltersByVehicleDriverPeriodCategoryStateAndReview()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 70_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var chef = await app.As(TestApi.Chef);
        var day = DateTimeOffset.UtcNow.Date.AddDays(-10);
        var business = await RecordAsync(driver, vehicle.Id, day.AddHours(8), 70_000, 70_010, TripCategory.Business);
        var commute = await RecordAsync(driver, vehicle.Id, day.AddDays(1).AddHours(8), 70_010, 70_030, TripCategory.Commute);
        var overlapping = await RecordAsync(driver, vehicle.Id, day.AddDays(2).AddHours(8), 70_020, 70_040, TripCategory.Private);
        var active = await driver.StartTripAsync(vehicle.Id);
        var v = $"vehicleId={vehicle.Id}";

        Assert.Equal(4, (await chef.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?{v}")).Total);
        Assert.Equal(4, (await chef.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?driverId={driverId}")).Total);
        Assert.Equal([business.Id], await IdsAsync(chef, $"{v}&category=business"));
        Assert.Equal([commute.Id], await IdsAsync(chef, $"{v}&from={Q(day.AddDays(1))}&to={Q(day.AddDays(2))}"));
        Assert.Equal([active.Id], await IdsAsync(chef, $"{v}&state=active"));
        Assert.Equal([overlapping.Id, commute.Id], await IdsAsync(chef, $"{v}&review=pending"));
        Assert.Equal([overlapping.Id, commute.Id, business.Id], await IdsAsync(chef, $"{v}&enteredLate=true"));
    }

    [Fact]
    public async Task ListTrips_PagesNewestFirst_WithTheTotal()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 80_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var start = DateTimeOffset.UtcNow.AddDays(-20);
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await RecordAsync(driver, vehicle.Id, start.AddDays(i), 80_000 + (i * 10), 80_010 + (i * 10), TripCategory.Commute)).Id);
        }

        ids.Reverse();
        var first = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips?page=1&pageSize=2");
        var second = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips?page=2&pageSize=2");
        var third = await driver.GetJsonAsync<PagedList<TripResponse>>("/api/trips?page=3&pageSize=2");

        Assert.Equal((1, 2, 5), (first.Page, first.PageSize, first.Total));
        Assert.Equal(ids, first.Items.Concat(second.Items).Concat(third.Items).Select(t => t.Id));
        Assert.Single(third.Items);
    }

    [Theory]
    [InlineData("page=0")]
    [InlineData("pageSize=0")]
    [InlineData("pageSize=501")]
    public async Task ListTrips_ReturnsUnprocessable_WhenPagingIsOutOfRange(string query)
    {
        var chef = await app.As(TestApi.Chef);

        var response = await chef.GetAsync($"/api/trips?{query}", Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "request.paging-invalid");
    }

    [Fact]
    public async Task ListTrips_ShowsTheAuditorTheWholeCompany_ButRefusesTheirWrites()
    {
        var (trip, _, vehicleId) = await app.CompletedTripAsync();
        var auditor = await app.As(TestApi.Auditor);
        var before = await app.FingerprintAsync();

        var listed = await auditor.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?vehicleId={vehicleId}");
        var start = await auditor.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicleId, null, null, null));
        var correct = await auditor.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("Prüfung", null, null, "anders", null, null, null));

        Assert.Equal(trip.Id, Assert.Single(listed.Items).Id);
        await ProblemAssert.IsProblemAsync(start, HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(correct, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    private static string Q(DateTimeOffset at) => Uri.EscapeDataString(at.ToString("O"));

    private static async Task<List<Guid>> IdsAsync(HttpClient client, string query) =>
        (await client.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?{query}")).Items.Select(t => t.Id).ToList();

    private static async Task<TripResponse> RecordAsync(HttpClient driver, Guid vehicleId, DateTimeOffset startedAt, int start, int end, TripCategory category)
    {
        var details = category == TripCategory.Business ? ("Kunde", "Besuch", "Kunde AG") : ((string?)null, (string?)null, (string?)null);
        var response = await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicleId, null, startedAt, startedAt.AddHours(1), start, end, category, null, null, details.Item1, details.Item2, details.Item3));
        return await response.ReadAsync<TripResponse>(HttpStatusCode.Created);
    }
}
