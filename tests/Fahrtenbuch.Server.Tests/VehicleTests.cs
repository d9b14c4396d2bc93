using System.Net;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests;

public sealed class VehicleTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ListVehicles_ShowsStatusAssignmentAndOdometer()
    {
        var ben = await app.As(TestApi.Ben);

        var vehicles = await ben.GetJsonAsync<List<VehicleResponse>>("/api/vehicles");

        var golf = Assert.Single(vehicles, v => v.Plate == "M FB 1001");
        Assert.True(golf.IsPoolCar);
        Assert.Equal(48_210, golf.CurrentOdometer);
        var bmw = Assert.Single(vehicles, v => v.Plate == "M FB 1005");
        Assert.False(bmw.IsPoolCar);
        Assert.Equal("Ben Becker", bmw.AssignedDriverName);
        Assert.DoesNotContain(vehicles, v => v.Plate.StartsWith("W ZD", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetVehicle_ShowsWhoUsesItAndSinceWhen_WhileATripIsActive()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 5_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var available = await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}");
        var trip = await driver.StartTripAsync(vehicle.Id);

        var inUse = await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}");

        Assert.Equal(VehicleAvailability.Available, available.Availability);
        Assert.Null(available.InUse);
        Assert.Equal(VehicleAvailability.InUse, inUse.Availability);
        Assert.Equal(trip.Id, inUse.InUse!.TripId);
        Assert.Equal(driverId, inUse.InUse.DriverId);
        Assert.Equal("Test Driver", inUse.InUse.DriverName);
        Assert.Equal(trip.StartedAt, inUse.InUse.Since);
    }

    [Fact]
    public async Task CreateVehicle_ReturnsCreated_WithNormalizedPlateAndAnEvent()
    {
        var chef = await app.As(TestApi.Chef);
        var anna = await (await app.As(TestApi.Anna)).UserIdAsync();
        var plate = TestApi.NewPlate();

        var response = await chef.PostJsonAsync("/api/vehicles", new CreateVehicleRequest("  " + plate.ToLowerInvariant().Replace(" ", "   ", StringComparison.Ordinal), "Opel Astra", 1_234, anna));
        var created = await response.ReadAsync<VehicleResponse>(HttpStatusCode.Created);

        Assert.Equal(plate, created.Plate);
        Assert.Equal($"/api/vehicles/{created.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal(1_234, created.CurrentOdometer);
        Assert.Equal(anna, created.AssignedDriverId);
        Assert.Equal(VehicleAvailability.Available, created.Availability);
        Assert.True(await app.QueryAsync(db => db.Events.IgnoreQueryFilters().AnyAsync(e => e.VehicleId == created.Id && e.Type == "vehicle.created", Ct)));
        var listed = await chef.GetJsonAsync<List<VehicleResponse>>("/api/vehicles");
        Assert.Contains(listed, v => v.Id == created.Id);
    }

    [Fact]
    public async Task CreateVehicle_ReturnsConflict_WhenThePlateIsTaken()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostJsonAsync("/api/vehicles", new CreateVehicleRequest("m fb  1001", "Doppelt", 1, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "vehicle.plate-taken");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CreateVehicle_ReturnsForbidden_ForADriver()
    {
        var anna = await app.As(TestApi.Anna);
        var before = await app.FingerprintAsync();

        var response = await anna.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(TestApi.NewPlate(), "Privatwunsch", 1, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CreateVehicle_ReturnsBadRequest_WhenFieldsAreMissingOrOutOfRange()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var missing = await chef.PostRawAsync("/api/vehicles", """{"initialOdometer":5}""");
        var negative = await chef.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(TestApi.NewPlate(), "Minus", -1, null));

        var problem = await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.BadRequest, "request.invalid");
        var errors = problem.GetProperty("errors");
        Assert.True(errors.EnumerateObject().Any(e => e.Name.Equals("plate", StringComparison.OrdinalIgnoreCase)), errors.ToString());
        await ProblemAssert.IsProblemAsync(negative, HttpStatusCode.BadRequest, "request.invalid");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CreateVehicle_ReturnsUnprocessable_WhenTheAssignedDriverIsUnknown()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(TestApi.NewPlate(), "Niemandes", 1, Guid.CreateVersion7()));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "vehicle.driver-unknown");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task UpdateVehicle_RenamesAssignsAndMakesAPoolCar()
    {
        var vehicle = await app.NewVehicleAsync();
        var chef = await app.As(TestApi.Chef);
        var ben = await (await app.As(TestApi.Ben)).UserIdAsync();

        var assigned = await (await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest("Neuer Name", ben, null, null))).ReadAsync<VehicleResponse>(HttpStatusCode.OK);
        var pooled = await (await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest(null, null, true, null))).ReadAsync<VehicleResponse>(HttpStatusCode.OK);

        Assert.Equal("Neuer Name", assigned.Name);
        Assert.Equal(ben, assigned.AssignedDriverId);
        Assert.False(assigned.IsPoolCar);
        Assert.Equal("Neuer Name", pooled.Name);
        Assert.True(pooled.IsPoolCar);
        Assert.Null(pooled.AssignedDriverId);
    }

    [Fact]
    public async Task UpdateVehicle_ReturnsUnprocessable_WhenPoolCarAndDriverAreBothGiven()
    {
        var vehicle = await app.NewVehicleAsync();
        var chef = await app.As(TestApi.Chef);
        var ben = await (await app.As(TestApi.Ben)).UserIdAsync();
        var before = await app.FingerprintAsync();

        var response = await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest("X", ben, true, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "vehicle.assignment-ambiguous");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(vehicle.Name, (await chef.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).Name);
    }

    [Fact]
    public async Task StartTrip_ReturnsConflict_WhenTheVehicleIsOutOfService()
    {
        var vehicle = await app.NewVehicleAsync();
        var chef = await app.As(TestApi.Chef);
        var outOfService = await (await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest(null, null, null, VehicleStatus.OutOfService))).ReadAsync<VehicleResponse>();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var before = await app.FingerprintAsync();

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, null));

        Assert.Equal(VehicleAvailability.OutOfService, outOfService.Availability);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "vehicle.out-of-service");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RetiredVehicle_IsHiddenFromTheListAndCannotReturnToService()
    {
        var vehicle = await app.NewVehicleAsync();
        var chef = await app.As(TestApi.Chef);
        await (await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest(null, null, null, VehicleStatus.Retired))).ReadAsync<VehicleResponse>(HttpStatusCode.OK);
        var before = await app.FingerprintAsync();

        var back = await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest(null, null, null, VehicleStatus.InService));

        await ProblemAssert.IsProblemAsync(back, HttpStatusCode.Conflict, "vehicle.retired");
        Assert.Equal(before, await app.FingerprintAsync());
        Assert.DoesNotContain(await chef.GetJsonAsync<List<VehicleResponse>>("/api/vehicles"), v => v.Id == vehicle.Id);
        var all = await chef.GetJsonAsync<List<VehicleResponse>>("/api/vehicles?includeRetired=true");
        Assert.Equal(VehicleAvailability.Retired, Assert.Single(all, v => v.Id == vehicle.Id).Availability);
    }

    [Fact]
    public async Task UpdateVehicle_ReturnsConflict_WhenTakingAVehicleInUseOutOfService()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        await driver.StartTripAsync(vehicle.Id);
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest(null, null, null, VehicleStatus.OutOfService));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "vehicle.in-use");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task UpdateVehicle_ReturnsForbidden_ForADriver()
    {
        var vehicle = await app.NewVehicleAsync();
        var anna = await app.As(TestApi.Anna);
        var before = await app.FingerprintAsync();

        var response = await anna.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest("Meins", null, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task GetVehicle_ReturnsNotFound_ForAnUnknownId()
    {
        var anna = await app.As(TestApi.Anna);

        var response = await anna.GetAsync($"/api/vehicles/{Guid.CreateVersion7()}", Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "vehicle.not-found");
    }

    [Fact]
    public async Task RecordOdometer_AdvancesTheVehicle_AndAppearsInTheHistoryWithTrips()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 20_000);
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(20_100));

        var response = await driver.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 20_250, null, "Tankstelle"));
        var recorded = await response.ReadAsync<OdometerRecorded>(HttpStatusCode.Created);

        Assert.Null(recorded.Flag);
        Assert.Equal(driverId, recorded.RecordedBy);
        Assert.Equal(20_250, (await driver.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).CurrentOdometer);
        var history = await driver.GetJsonAsync<List<OdometerEntry>>($"/api/vehicles/{vehicle.Id}/odometer");
        Assert.Equal(
            [(OdometerSource.Reading, 20_250), (OdometerSource.TripEnd, 20_100), (OdometerSource.TripStart, 20_000)],
            history.Select(e => (e.Source, e.Value)).ToList());
        Assert.Equal("Tankstelle", history[0].Note);
        var next = await driver.StartTripAsync(vehicle.Id);
        Assert.Equal(20_250, next.StartOdometer);
    }

    [Fact]
    public async Task RecordOdometer_KeepsAReadingBelowTheCurrentOdometer_FlaggedAsBackwards()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 30_000);
        var anna = await app.As(TestApi.Anna);

        var recorded = await (await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 29_000, null, null)))
            .ReadAsync<OdometerRecorded>(HttpStatusCode.Created);

        Assert.Equal(ReviewReasons.OdometerBackwards, recorded.Flag);
        var history = await anna.GetJsonAsync<List<OdometerEntry>>($"/api/vehicles/{vehicle.Id}/odometer");
        Assert.Equal(ReviewReasons.OdometerBackwards, Assert.Single(history, e => e.Id == recorded.Id).Flag);
        Assert.Equal(30_000, (await anna.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}")).CurrentOdometer);
    }

    [Fact]
    public async Task RecordOdometer_ReturnsTheSameReading_WhenResentWithTheSameId()
    {
        var vehicle = await app.NewVehicleAsync(odometer: 40_000);
        var anna = await app.As(TestApi.Anna);
        var request = new RecordOdometerRequest(Guid.CreateVersion7(), 40_500, null, null);
        var first = await (await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", request)).ReadAsync<OdometerRecorded>(HttpStatusCode.Created);
        var before = await app.FingerprintAsync();

        var again = await (await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", request)).ReadAsync<OdometerRecorded>(HttpStatusCode.OK);

        Assert.Equal(first, again);
        Assert.Equal(before, await app.FingerprintAsync());
        var reused = await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", request with { Value = 41_000 });
        await ProblemAssert.IsProblemAsync(reused, HttpStatusCode.Conflict, "request.id-reused");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordOdometer_ReturnsUnprocessable_WhenTheReadingLiesInTheFuture()
    {
        var vehicle = await app.NewVehicleAsync();
        var anna = await app.As(TestApi.Anna);
        var before = await app.FingerprintAsync();

        var response = await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 10_100, DateTimeOffset.UtcNow.AddHours(2), null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "odometer.in-future");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordOdometer_ReturnsForbidden_ForTheAuditor()
    {
        var vehicle = await app.NewVehicleAsync();
        var auditor = await app.As(TestApi.Auditor);
        var before = await app.FingerprintAsync();

        var response = await auditor.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 10_100, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task RecordOdometer_ReturnsUtcInstants_WhenTheClientSendsAnOffset()
    {
        var vehicle = await app.NewVehicleAsync();
        var anna = await app.As(TestApi.Anna);
        var readAt = Instants.Normalize(DateTimeOffset.UtcNow.AddMinutes(-30)).ToOffset(TimeSpan.FromHours(2));

        var response = await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 10_200, readAt, null));
        var recorded = await response.ReadAsync<OdometerRecorded>(HttpStatusCode.Created);

        Assert.Equal(TimeSpan.Zero, recorded.ReadAt.Offset);
        Assert.Equal(readAt.UtcDateTime, recorded.ReadAt.UtcDateTime);
        var board = await anna.GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}");
        Assert.Equal(TimeSpan.Zero, board.OdometerUpdatedAt.Offset);
    }
}
