using System.Net;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>Another company's ids answer 404 exactly like ids that do not exist: never 403, never a hint.</summary>
public sealed class TenantIsolationTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OtherCompany_SeesNoneOfTheDemoCompanysVehiclesTripsOrUsers()
    {
        var (trip, _, _) = await app.CompletedTripAsync();
        var other = await app.As(TestApi.OtherChef);

        var vehicles = await other.GetJsonAsync<List<VehicleResponse>>("/api/vehicles?includeRetired=true");
        var trips = await other.GetJsonAsync<PagedList<TripResponse>>("/api/trips");
        var filtered = await other.GetJsonAsync<PagedList<TripResponse>>($"/api/trips?vehicleId={trip.VehicleId}&driverId={trip.DriverId}");
        var users = await other.GetJsonAsync<List<UserResponse>>("/api/users");

        var demoVehicles = await (await app.As(TestApi.Chef)).GetJsonAsync<List<VehicleResponse>>("/api/vehicles?includeRetired=true");
        Assert.Contains(vehicles, v => v.Plate == "W ZD 201");
        Assert.Empty(vehicles.Select(v => v.Id).Intersect(demoVehicles.Select(v => v.Id)));
        Assert.Empty(trips.Items);
        Assert.Empty(filtered.Items);
        Assert.Equal(TestApi.OtherChef, Assert.Single(users).Email);
    }

    [Fact]
    public async Task PooledContext_ForgetsTheCompany_OfTheUnitOfWorkThatUsedItBefore()
    {
        var company = await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Select(v => v.CompanyId).FirstAsync(Ct));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = company;
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.NotEmpty(await db.Vehicles.ToListAsync(Ct));
        }

        // Contexts are pooled: the next unit of work may get the same instance back, and without a company of its own it sees nothing.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Equal(Guid.Empty, db.CompanyId);
            Assert.Empty(await db.Vehicles.ToListAsync(Ct));
        }
    }

    [Theory]
    [InlineData("/api/vehicles/{vehicle}", "vehicle.not-found")]
    [InlineData("/api/vehicles/{vehicle}/odometer", "vehicle.not-found")]
    [InlineData("/api/trips/{trip}", "trip.not-found")]
    public async Task OtherCompany_GetsNotFound_WhenReadingAnotherCompanysIds(string template, string code)
    {
        var (trip, _, vehicleId) = await app.CompletedTripAsync();
        var other = await app.As(TestApi.OtherChef);
        var url = template.Replace("{vehicle}", vehicleId.ToString(), StringComparison.Ordinal).Replace("{trip}", trip.Id.ToString(), StringComparison.Ordinal);

        var response = await other.GetAsync(url, Ct);
        var unknown = await other.GetAsync(template.Replace("{vehicle}", Guid.CreateVersion7().ToString(), StringComparison.Ordinal).Replace("{trip}", Guid.CreateVersion7().ToString(), StringComparison.Ordinal), Ct);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, code);
        var unknownProblem = await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound, code);
        Assert.Equal(unknownProblem.GetProperty("detail").GetString(), problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task OtherCompany_GetsNotFoundAndChangesNothing_WhenWritingToAnotherCompanysTrip()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var active = await driver.StartTripAsync(vehicle.Id);
        var (completed, _, _) = await app.CompletedTripAsync();
        var other = await app.As(TestApi.OtherChef);
        var before = await app.FingerprintAsync();

        var complete = await other.PostJsonAsync($"/api/trips/{active.Id}/complete", TestApi.BusinessEnd(active.StartOdometer + 10));
        var cancel = await other.PostJsonAsync($"/api/trips/{active.Id}/cancel", new ReasonRequest("fremd"));
        var voiding = await other.PostJsonAsync($"/api/trips/{completed.Id}/void", new ReasonRequest("fremd"));
        var correct = await other.PostJsonAsync($"/api/trips/{completed.Id}/revisions", new CorrectTripRequest("fremd", null, null, "gekapert", null, null, null));

        foreach (var response in new[] { complete, cancel, voiding, correct })
        {
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "trip.not-found");
        }

        Assert.Equal(before, await app.FingerprintAsync());
        Assert.Equal(TripState.Active, (await driver.GetTripAsync(active.Id)).State);
    }

    [Fact]
    public async Task OtherCompany_GetsNotFoundAndChangesNothing_WhenWritingToAnotherCompanysVehicle()
    {
        var vehicle = await app.NewVehicleAsync();
        var other = await app.As(TestApi.OtherChef);
        var before = await app.FingerprintAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);

        var start = await other.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, null));
        var late = await other.PostJsonAsync("/api/trips/late", new RecordTripRequest(null, vehicle.Id, null, at, at.AddHours(1), 10_000, 10_010, TripCategory.Commute, null, null, null, null, null));
        var patch = await other.PatchJsonAsync($"/api/vehicles/{vehicle.Id}", new UpdateVehicleRequest("Gekapert", null, null, VehicleStatus.Retired));
        var reading = await other.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(null, 99_999, null, null));

        foreach (var response in new[] { start, late, patch, reading })
        {
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "vehicle.not-found");
        }

        Assert.Equal(before, await app.FingerprintAsync());
        var stored = await (await app.As(TestApi.Chef)).GetJsonAsync<VehicleResponse>($"/api/vehicles/{vehicle.Id}");
        Assert.Equal((vehicle.Name, VehicleStatus.InService, vehicle.CurrentOdometer), (stored.Name, stored.Status, stored.CurrentOdometer));
    }

    [Fact]
    public async Task OtherCompany_GetsNotFound_WhenDisablingAnotherCompanysUser()
    {
        var (_, id, email, _) = await app.NewDriverAsync();
        var other = await app.As(TestApi.OtherChef);
        var before = await app.FingerprintAsync();

        var disable = await other.PostJsonAsync($"/api/users/{id}/disable", null);
        var enable = await other.PostJsonAsync($"/api/users/{id}/enable", null);

        await ProblemAssert.IsProblemAsync(disable, HttpStatusCode.NotFound, "user.not-found");
        await ProblemAssert.IsProblemAsync(enable, HttpStatusCode.NotFound, "user.not-found");
        Assert.Equal(before, await app.FingerprintAsync());
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task OtherCompany_CannotAssignAnotherCompanysDriverOrEnterTripsForThem()
    {
        var (_, driverId, _, _) = await app.NewDriverAsync();
        var other = await app.As(TestApi.OtherChef);
        var ownVehicle = (await other.GetJsonAsync<List<VehicleResponse>>("/api/vehicles")).Single(v => v.Plate == "W ZD 201");
        var before = await app.FingerprintAsync();
        var at = DateTimeOffset.UtcNow.AddDays(-1);

        var create = await other.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(TestApi.NewPlate(), "Fremd", 1, driverId));
        var assign = await other.PatchJsonAsync($"/api/vehicles/{ownVehicle.Id}", new UpdateVehicleRequest(null, driverId, null, null));
        var late = await other.PostJsonAsync("/api/trips/late", new RecordTripRequest(
            null, ownVehicle.Id, driverId, at, at.AddHours(1), ownVehicle.CurrentOdometer, ownVehicle.CurrentOdometer + 5, TripCategory.Commute, null, null, null, null, null));

        await ProblemAssert.IsProblemAsync(create, HttpStatusCode.UnprocessableEntity, "vehicle.driver-unknown");
        await ProblemAssert.IsProblemAsync(assign, HttpStatusCode.UnprocessableEntity, "vehicle.driver-unknown");
        await ProblemAssert.IsProblemAsync(late, HttpStatusCode.UnprocessableEntity, "trip.driver-unknown");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task OtherCompany_CanUseTheSamePlate_BecausePlatesAreUniquePerCompany()
    {
        var other = await app.As(TestApi.OtherChef);

        var response = await other.PostJsonAsync("/api/vehicles", new CreateVehicleRequest("M FB 1005", "Auch ein BMW", 1, null));

        var created = await response.ReadAsync<VehicleResponse>(HttpStatusCode.Created);
        Assert.Equal("M FB 1005", created.Plate);
        var demo = await (await app.As(TestApi.Chef)).GetJsonAsync<List<VehicleResponse>>("/api/vehicles");
        Assert.DoesNotContain(demo, v => v.Id == created.Id);
    }

    [Fact]
    public async Task OtherCompany_ReusingATripIdOfAnotherCompany_GetsConflictWithoutItsData()
    {
        var (trip, _, _) = await app.CompletedTripAsync();
        var other = await app.As(TestApi.OtherChef);
        var ownVehicle = (await other.GetJsonAsync<List<VehicleResponse>>("/api/vehicles")).Single(v => v.Plate == "W ZD 202");
        var before = await app.FingerprintAsync();

        var response = await other.PostJsonAsync("/api/trips", new StartTripRequest(trip.Id, ownVehicle.Id, null, null, null));

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "request.id-reused");
        Assert.DoesNotContain(trip.VehicleId.ToString(), problem.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task OtherCompany_ReusingAnOdometerReadingIdOfAnotherCompany_GetsConflictAndChangesNothing()
    {
        var vehicle = await app.NewVehicleAsync();
        var anna = await app.As(TestApi.Anna);
        var id = Guid.CreateVersion7();
        await (await anna.PostJsonAsync($"/api/vehicles/{vehicle.Id}/odometer", new RecordOdometerRequest(id, 10_100, null, null))).ReadAsync<OdometerRecorded>(HttpStatusCode.Created);
        var other = await app.As(TestApi.OtherChef);
        var ownVehicle = (await other.GetJsonAsync<List<VehicleResponse>>("/api/vehicles")).Single(v => v.Plate == "W ZD 201");
        var before = await app.FingerprintAsync();

        var response = await other.PostJsonAsync($"/api/vehicles/{ownVehicle.Id}/odometer", new RecordOdometerRequest(id, ownVehicle.CurrentOdometer + 10, null, null));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "request.id-reused");
        Assert.Equal(before, await app.FingerprintAsync());
    }
}
