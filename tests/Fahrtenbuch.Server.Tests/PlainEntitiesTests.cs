using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// The trip and the vehicle a trip write loads come from a plain statement (PlainEntities) instead of EF's query pipeline.
/// What it hands back must be what EF's tracking query would: every mapped value, tracked as unchanged, includes loaded,
/// the company filter applied, the tracked instance when there is one. On both providers.
/// </summary>
public sealed class PlainEntitiesTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<Trip?>> TripQuery =
        (db, id, ct) => db.Trips.Include(t => t.Revisions).SingleOrDefaultAsync(t => t.Id == id, ct);

    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<Vehicle?>> VehicleQuery =
        (db, id, ct) => db.Vehicles.SingleOrDefaultAsync(v => v.Id == id, ct);

    [Fact]
    public async Task ActiveAndCompletedTrips_AndTheirVehicles_LoadAsEfLoadsThem_TrackedUnchanged()
    {
        var (completed, _, _) = await app.CompletedTripAsync();
        var active = await (await app.NewDriverAsync()).Client.StartTripAsync((await app.NewVehicleAsync()).Id, startOdometer: 10_007);
        var company = await CompanyOfAsync(completed.Id);

        foreach (var id in new[] { completed.Id, active.Id })
        {
            await using var scope = app.CompanyScope(company);
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var trip = await PlainEntities.FindAsync(db, id, FailIfAsked<Trip>, Ct);
            Assert.NotNull(trip);
            await AssertAsEfReadsAsync(db, trip, TripQuery);
            Assert.Empty(trip.Revisions);
            Assert.Empty(trip.Annotations);
            Assert.True(db.Entry(trip).Collection(t => t.Revisions).IsLoaded);
            Assert.True(db.Entry(trip).Collection(t => t.Annotations).IsLoaded);

            var vehicle = await PlainEntities.FindAsync(db, trip.VehicleId, FailIfAsked<Vehicle>, Ct);
            Assert.NotNull(vehicle);
            await AssertAsEfReadsAsync(db, vehicle, VehicleQuery);

            // Tracked as a query leaves it: a change is detected, and only the changed column is modified.
            vehicle.ObserveOdometer(vehicle.CurrentOdometer + 5, DateTimeOffset.UtcNow);
            db.ChangeTracker.DetectChanges();
            Assert.Equal(EntityState.Modified, db.Entry(vehicle).State);
            Assert.Equal(
                [nameof(Vehicle.CurrentOdometer), nameof(Vehicle.OdometerUpdatedAt)],
                db.Entry(vehicle).Properties.Where(p => p.IsModified).Select(p => p.Metadata.Name).Order());
            Assert.Equal(EntityState.Unchanged, db.Entry(trip).State);
        }
    }

    [Fact]
    public async Task ATripWithRevisionsAndAnnotations_IsLoadedWithThem()
    {
        var (trip, driver, _) = await app.CompletedTripAsync();
        var manager = await app.As(TestApi.Chef);
        (await manager.PostJsonAsync($"/api/trips/{trip.Id}/revisions", new { reason = "Tippfehler", purpose = "Vertragsverhandlung" })).EnsureSuccessStatusCode();
        (await driver.PostJsonAsync($"/api/trips/{trip.Id}/annotations", new { text = "Parkticket liegt bei" })).EnsureSuccessStatusCode();

        await using var scope = app.CompanyScope(await CompanyOfAsync(trip.Id));
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var asked = 0;
        var loaded = await PlainEntities.FindAsync(db, trip.Id, (db, id, ct) => { asked++; return TripQuery(db, id, ct); }, Ct);

        Assert.Equal(1, asked);
        Assert.NotNull(loaded);
        Assert.Equal("Vertragsverhandlung", loaded.Purpose);
        Assert.Equal("Tippfehler", Assert.Single(loaded.Revisions).Reason);
        Assert.Equal("Parkticket liegt bei", Assert.Single(loaded.Annotations).Text);
    }

    [Fact]
    public async Task AnotherCompanysTrip_IsNotFound_AndATrackedTrip_IsTheTrackedInstance()
    {
        var (trip, _, _) = await app.CompletedTripAsync();
        await using (var elsewhere = app.CompanyScope(Guid.CreateVersion7()))
        {
            var db = elsewhere.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Null(await PlainEntities.FindAsync(db, trip.Id, FailIfAsked<Trip>, Ct));
            Assert.Null(await PlainEntities.FindAsync(db, trip.VehicleId, FailIfAsked<Vehicle>, Ct));
            Assert.Empty(db.ChangeTracker.Entries());
        }

        await using var scope = app.CompanyScope(await CompanyOfAsync(trip.Id));
        var context = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var first = await PlainEntities.FindAsync(context, trip.Id, FailIfAsked<Trip>, Ct);
        var second = await PlainEntities.FindAsync(context, trip.Id, TripQuery, Ct);
        Assert.Same(first, second);
        Assert.Null(await PlainEntities.FindAsync(context, Guid.CreateVersion7(), FailIfAsked<Trip>, Ct));
    }

    /// <summary>The plain statement must answer these cases itself; the EF query is only for trips with revisions or annotations and tracked ones.</summary>
    private static Task<T?> FailIfAsked<T>(AppDbContext db, Guid id, CancellationToken ct) where T : class =>
        throw new InvalidOperationException($"The EF query ran for {typeof(T).Name} {id}.");

    /// <summary>Every mapped value of <paramref name="loaded"/> equals what EF's own query reads in a fresh context.</summary>
    private async Task AssertAsEfReadsAsync<T>(AppDbContext db, T loaded, Func<AppDbContext, Guid, CancellationToken, Task<T?>> query) where T : class
    {
        Assert.Equal(EntityState.Unchanged, db.Entry(loaded).State);
        var type = db.Model.FindEntityType(typeof(T))!;
        var id = (Guid)type.FindPrimaryKey()!.Properties.Single().GetGetter().GetClrValue(loaded)!;
        var company = db.CompanyId;
        await using var scope = app.CompanyScope(company);
        var expected = await query(scope.ServiceProvider.GetRequiredService<AppDbContext>(), id, Ct);
        Assert.NotNull(expected);
        foreach (var property in type.GetProperties())
        {
            var (want, got) = (property.GetGetter().GetClrValue(expected), property.GetGetter().GetClrValue(loaded));
            Assert.True(Equals(want, got), $"{type.DisplayName()}.{property.Name}: EF read {want}, the plain statement {got}");
            Assert.Equal(want, db.Entry(loaded).OriginalValues[property]);
        }
    }

    private Task<Guid> CompanyOfAsync(Guid tripId) =>
        app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.Id == tripId).Select(t => t.CompanyId).SingleAsync(Ct));
}
