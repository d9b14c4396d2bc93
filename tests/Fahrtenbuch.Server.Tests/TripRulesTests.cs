using System.Net;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

/// <summary>The logbook's rules: every refusal leaves the database as it was; every conflict is kept and flagged.</summary>
public sealed class TripRulesTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task StartTrip_ReturnsConflict_WhenTheVehicleAlreadyHasAnActiveTrip()
    {
        var vehicle = await app.NewVehicleAsync();
        var (first, _, _, _) = await app.NewDriverAsync();
        var (second, _, _, _) = await app.NewDriverAsync();
        var active = await first.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await second.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.vehicle-in-use");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(active.Id, (await second.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).InUse!.TripId);
    }

    [Fact]
    public async Task StartTrip_ReturnsConflict_WhenTheDriverAlreadyHasAnActiveTrip()
    {
        var firstVehicle = await app.NewVehicleAsync();
        var secondVehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        await driver.StartTripAsync(firstVehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, secondVehicle.Id, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.driver-has-active-trip");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task StartTrip_ReturnsTheSameTripWithOk_WhenResentWithTheSameId()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var id = Guid.CreateVersion7();
        var created = await driver.StartTripAsync(vehicle.Id, id: id);
        var before = await app.FingerprintAsync();

        var again = await driver.PostJsonAsync("/api/trips", new StartTripRequest(id, vehicle.Id, null, null, "Depot"));

        var replayed = await again.ReadAsync<TripResponse>(HttpStatusCode.OK);
        Assert.Equal(created.Id, replayed.Id);
        Assert.Equal(created.StartOdometer, replayed.StartOdometer);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task StartTrip_ReturnsConflict_WhenTheIdWasUsedForAnotherVehicle()
    {
        var vehicle = await app.NewVehicleAsync();
        var otherVehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var created = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(created.Id, otherVehicle.Id, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "request.id-reused");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task StartTrip_KeepsAStartOdometerBelowTheLastReading_FlaggedForReviewWithTheReason()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 15_000);
        var (driver, _, _, _) = await app.NewDriverAsync();

        var trip = await driver.StartTripAsync(vehicle.Id, startOdometer: 14_900);

        Assert.Equal(14_900, trip.StartOdometer);
        Assert.Equal(ReviewState.Pending, trip.Review);
        Assert.Equal([ReviewReasons.OdometerBackwards], trip.ReviewReasons);
        Assert.Null(trip.GapBeforeKm);
        Assert.Equal(15_000, (await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).CurrentOdometer);
        var pending = await (await app.As(TestApi.Chef)).GetJsonAsync<PagedList<TripResponse>>($"/api/trips?review=pending&vehicleId={vehicle.Id}");
        Assert.Equal(trip.Id, Assert.Single(pending.Items).Id);
    }

    [Fact]
    public async Task StartTrip_ReportsTheGap_WhenItStartsAboveTheLastReading()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 16_000);
        var (driver, _, _, _) = await app.NewDriverAsync();

        var trip = await driver.StartTripAsync(vehicle.Id, startOdometer: 16_035);

        Assert.Equal(35, trip.GapBeforeKm);
        Assert.Equal(ReviewState.None, trip.Review);
        Assert.Equal(35, (await driver.GetTripAsync(trip.Id)).GapBeforeKm);
    }

    [Fact]
    public async Task StartTrip_ReturnsUnprocessable_WhenTheStartLiesInTheFuture()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, DateTimeOffset.UtcNow.AddHours(1), null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.in-future");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task StartTrip_ReturnsNotFound_ForAnUnknownVehicle()
    {
        var (driver, _, _, _) = await app.NewDriverAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, Guid.CreateVersion7(), null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "vehicle.not-found");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CompleteTrip_ReturnsUnprocessable_WhenTheEndOdometerIsBelowTheStart()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 9_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/complete", TestApi.BusinessEnd(8_999));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.odometer-below-start");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(TripState.Active, (await driver.GetTripAsync(trip.Id)).State);
    }

    [Fact]
    public async Task CompleteTrip_AcceptsAnEndOdometerEqualToTheStart()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 9_500);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);

        var completed = await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(9_500));

        Assert.Equal(0, completed.DistanceKm);
    }

    [Theory]
    [InlineData(null, "Zweck", "Partner")]
    [InlineData("Ziel", " ", "Partner")]
    [InlineData("Ziel", "Zweck", null)]
    public async Task CompleteTrip_ReturnsUnprocessable_WhenABusinessTripLacksDestinationPurposeOrPartner(string? destination, string? purpose, string? partner)
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/complete",
            new CompleteTripRequest(trip.StartOdometer + 5, null, TripCategory.Business, destination, purpose, partner, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.business-details-required");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CompleteTrip_ReturnsConflict_WhenTripIsAlreadyCompleted()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/complete", TestApi.BusinessEnd(trip.EndOdometer!.Value + 100));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.not-active");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(trip.EndOdometer, (await driver.GetTripAsync(trip.Id)).EndOdometer);
    }

    [Fact]
    public async Task CompleteTrip_ReturnsForbidden_WhenAnotherDriverTriesIt()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var (other, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var complete = await other.PostJsonAsync($"/api/trips/{trip.Id}/complete", TestApi.BusinessEnd(trip.StartOdometer + 1));
        var cancel = await other.PostJsonAsync($"/api/trips/{trip.Id}/cancel", new ReasonRequest("nicht meins"));

        await ProblemAssert.IsProblemAsync(complete, HttpStatusCode.Forbidden, "trip.not-your-trip");
        await ProblemAssert.IsProblemAsync(cancel, HttpStatusCode.Forbidden, "trip.not-your-trip");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CompleteTrip_LetsTheFleetManagerCompleteADriversTrip()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var chef = await app.As(TestApi.Chef);

        var completed = await chef.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(trip.StartOdometer + 3));

        Assert.Equal(TripState.Completed, completed.State);
    }

    [Fact]
    public async Task CancelTrip_ReturnsBadRequest_WhenTheReasonIsMissingOrBlank()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var missing = await driver.PostRawAsync($"/api/trips/{trip.Id}/cancel", "{}");
        var blank = await driver.PostJsonAsync($"/api/trips/{trip.Id}/cancel", new ReasonRequest("   "));

        await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.BadRequest, "request.invalid");
        await ProblemAssert.IsProblemAsync(blank, HttpStatusCode.BadRequest, "request.invalid");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(TripState.Active, (await driver.GetTripAsync(trip.Id)).State);
    }

    [Fact]
    public async Task CancelTrip_ReturnsConflict_WhenTheTripIsCompleted()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/cancel", new ReasonRequest("zu spät"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.not-active");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task VoidTrip_ReturnsConflict_WhenTheTripIsStillActive()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/void", new ReasonRequest("falsch"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.not-completed");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task VoidTrip_ReturnsBadRequest_WhenTheReasonIsBlank()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/void", new ReasonRequest(" "));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.invalid");
        Assert.Equal(TripState.Completed, (await driver.GetTripAsync(trip.Id)).State);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Theory]
    [InlineData("endOdometer", "99999")]
    [InlineData("startOdometer", "1")]
    [InlineData("startedAt", "\"2026-01-01T08:00:00Z\"")]
    [InlineData("endedAt", "\"2026-01-01T09:00:00Z\"")]
    [InlineData("vehicleId", "\"0199a000-0000-7000-8000-000000000000\"")]
    [InlineData("driverId", "\"0199a000-0000-7000-8000-000000000000\"")]
    public async Task CorrectTrip_ReturnsUnprocessableWithFieldFrozen_WhenAFrozenFieldIsChanged(string field, string value)
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostRawAsync($"/api/trips/{trip.Id}/revisions", $$"""{"reason":"Kilometer falsch","{{field}}":{{value}}}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.field-frozen");
        Assert.Contains(field, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await app.FingerprintAsync());
        var stored = await driver.GetTripAsync(trip.Id);
        Assert.Equal((trip.StartOdometer, trip.EndOdometer, trip.StartedAt, trip.EndedAt), (stored.StartOdometer, stored.EndOdometer, stored.StartedAt, stored.EndedAt));
        Assert.Empty(stored.Revisions);
    }

    [Fact]
    public async Task CorrectTrip_ReturnsBadRequest_ForAnUnknownField()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostRawAsync($"/api/trips/{trip.Id}/revisions", """{"reason":"x","colour":"blau"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.malformed");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CorrectTrip_ReturnsUnprocessable_WhenItChangesNothing()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("nichts", null, trip.Destination, trip.Purpose, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.correction-empty");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CorrectTrip_ReturnsUnprocessable_WhenItMakesABusinessTripWithoutDetails()
    {
        var (trip, driver, _) = await app.CompletedTripAsync(TripCategory.Commute);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("war dienstlich", TripCategory.Business, null, null, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.business-details-required");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(TripCategory.Commute, (await driver.GetTripAsync(trip.Id)).Category);
    }

    [Fact]
    public async Task CorrectTrip_ReturnsConflict_WhenTheTripIsVoided()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        await (await driver.PostJsonAsync($"/api/trips/{trip.Id}/void", new ReasonRequest("falsch"))).ReadAsync<TripResponse>();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new CorrectTripRequest("doch", null, null, "neu", null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "trip.not-completed");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordTripAfterwards_FlagsBothTrips_WhenItsOdometerRangeOverlapsAnotherTrip()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 100_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var existing = await driver.StartTripAsync(vehicle.Id);
        await driver.CompleteTripAsync(existing.Id, TestApi.BusinessEnd(100_100));
        var yesterday = DateTimeOffset.UtcNow.AddDays(-1);

        var response = await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, yesterday, yesterday.AddHours(1), 100_050, 100_080, TripCategory.Commute, null, null, null, null, null));
        var late = await response.ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal(ReviewState.Pending, late.Review);
        Assert.Contains(ReviewReasons.OdometerOverlap, late.ReviewReasons);
        var other = await driver.GetTripAsync(existing.Id);
        Assert.Equal(ReviewState.Pending, other.Review);
        Assert.Contains(ReviewReasons.OdometerOverlap, other.ReviewReasons);
        Assert.Equal(TripState.Completed, other.State);
    }

    [Fact]
    public async Task RecordTripAfterwards_FlagsATimeOverlap_OnTheSameVehicle()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 110_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var (other, _, _, _) = await app.NewDriverAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-3);
        await (await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, at, at.AddHours(2), 110_000, 110_050, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>();

        var second = await (await other.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, at.AddHours(1), at.AddHours(3), 110_050, 110_090, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal([ReviewReasons.TimeOverlap], second.ReviewReasons);
    }

    [Fact]
    public async Task RecordTripAfterwards_FlagsADriverOverlap_OnAnotherVehicle_ButNotTripsThatMerelyTouch()
    {
        var first = await app.NewVehicleAsync(odometer: 115_000);
        var second = await app.NewVehicleAsync(odometer: 116_000);
        var third = await app.NewVehicleAsync(odometer: 117_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-4);
        var earlier = await (await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, first.Id, null, at, at.AddHours(2), 115_000, 115_050, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.Created);

        // Back to back on other cars, after and before: one starts the moment the earlier trip ended, one ends the moment it started.
        var after = await (await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, second.Id, null, at.AddHours(2), at.AddHours(3), 116_000, 116_020, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.Created);
        var before = await (await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, third.Id, null, at.AddHours(-1), at, 117_000, 117_050, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.Created);
        Assert.Equal(ReviewState.None, after.Review);
        Assert.Equal(ReviewState.None, before.Review);

        var overlapping = await (await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, second.Id, null, at.AddHours(1), at.AddHours(1).AddMinutes(30), 116_020, 116_030, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal([ReviewReasons.DriverOverlap], overlapping.ReviewReasons);
        Assert.Equal([ReviewReasons.DriverOverlap], (await driver.GetTripAsync(earlier.Id)).ReviewReasons);
        Assert.Equal(ReviewState.None, (await driver.GetTripAsync(after.Id)).Review);
        Assert.Equal(ReviewState.None, (await driver.GetTripAsync(before.Id)).Review);
    }

    [Fact]
    public async Task RecordTripAfterwards_ReturnsTheSameTrip_WhenResentWithTheSameId()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 120_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);
        var request = new RecordTripRequest(Guid.CreateVersion7(), vehicle.Id, null, at, at.AddHours(1), 120_000, 120_010, TripCategory.Commute, null, null, null, null, null);
        var created = await (await driver.PostJsonAsync("/api/trips/late", request)).ReadAsync<TripResponse>(HttpStatusCode.Created);
        var before = await app.FingerprintAsync();

        var again = await (await driver.PostJsonAsync("/api/trips/late", request)).ReadAsync<TripResponse>(HttpStatusCode.OK);

        Assert.Equal(created.Id, again.Id);
        Assert.Equal(ReviewState.None, again.Review);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordTripAfterwards_ReturnsForbidden_WhenADriverEntersATripForSomeoneElse()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var anna = await (await app.As(TestApi.Anna)).UserIdAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, anna, at, at.AddHours(1), 10_000, 10_010, TripCategory.Commute, null, null, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "trip.not-your-trip");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordTripAfterwards_ReturnsUnprocessable_WhenItEndsBeforeItStarts()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, at, at.AddHours(-1), 10_000, 10_010, TripCategory.Commute, null, null, null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "trip.ends-before-start");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CompleteTrip_FlagsATripThatOverlapsALateEntry_AndKeepsBoth()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 130_000);
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var (other, _, _, _) = await app.NewDriverAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);
        var late = await (await other.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, vehicle.Id, null, at, at.AddHours(1), 130_010, 130_020, TripCategory.Commute, null, null, null, null, null))).ReadAsync<TripResponse>();

        var completed = await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(130_050));

        Assert.Equal(ReviewState.Pending, completed.Review);
        Assert.Contains(ReviewReasons.OdometerOverlap, completed.ReviewReasons);
        Assert.Equal(ReviewState.Pending, (await other.GetTripAsync(late.Id)).Review);
    }
}
