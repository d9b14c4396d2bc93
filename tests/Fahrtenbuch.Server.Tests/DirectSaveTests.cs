using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// A logged write's changes on SQLite are saved with plain statements instead of EF's update pipeline (DirectSave); what
/// they store must be exactly what EF reads back, column for column, and what they cannot do must still be saved by EF.
/// On PostgreSQL the same writes go through <c>SaveChanges</c>, so the test holds for both paths.
/// </summary>
public sealed class DirectSaveTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task InsertedAndUpdatedRows_ReadBackColumnForColumn()
    {
        var (company, driver) = await CompanyAndDriverAsync();
        Trip trip;
        Vehicle vehicle;
        await using (var scope = app.CompanyScope(company))
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await using var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(Ct);
            vehicle = await db.Vehicles.Where(v => v.ActiveTripId == null && v.Status == VehicleStatus.InService).OrderBy(v => v.Plate).FirstAsync(Ct);
            vehicle.Update("Direkt gespeichert – Ärger ünd Öl", assignedDriverId: null, changeAssignment: false, status: null);
            trip = Trip.Start(Guid.CreateVersion7(), vehicle, driver, vehicle.CurrentOdometer + 17, write.Now.AddMinutes(-3), "Büro, Hof 2", write.Now);
            trip.ReportGap(17);
            vehicle.ObserveOdometer(trip.StartOdometer, trip.StartedAt);
            db.Trips.Add(trip);
            write.Append("test.direct-save", new { trip = trip.Id });
            var saved = 0;
            db.SavedChanges += (_, _) => saved++;
            await write.CommitAsync(Ct);
            Assert.Equal(TestDatabase.UsesPostgres ? 1 : 0, saved);
        }

        await AssertStoredAsync(trip);
        await AssertStoredAsync(vehicle);

        await using (var scope = app.CompanyScope(company))
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await using var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(Ct);
            trip = await db.Trips.SingleAsync(t => t.Id == trip.Id, Ct);
            vehicle = await db.Vehicles.SingleAsync(v => v.Id == vehicle.Id, Ct);
            trip.Complete(trip.StartOdometer + 42, write.Now, new TripDetails(TripCategory.Business, "Augsburg", "Kundentermin", "Müller GmbH", "Augsburg, Hauptstraße 5"), write.Now);
            vehicle.Release(trip.Id);
            vehicle.ObserveOdometer(trip.EndOdometer!.Value, trip.EndedAt!.Value);
            write.Append("test.direct-save", new { trip = trip.Id });
            await write.CommitAsync(Ct);
        }

        await AssertStoredAsync(trip);
        await AssertStoredAsync(vehicle);
    }

    [Fact]
    public async Task ChangesItCannotSave_GoThroughEf_InTheSameTransaction()
    {
        var (company, driver) = await CompanyAndDriverAsync();
        var head = await app.QueryAsync(db => db.Companies.Where(c => c.Id == company).Select(c => c.LogHead).SingleAsync(Ct));
        var vehicles = await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters()
            .Where(v => v.CompanyId == company && v.ActiveTripId == null && v.Status == VehicleStatus.InService).OrderBy(v => v.Plate).Take(2).Select(v => v.Id).ToListAsync(Ct));
        var trips = new List<Trip>();
        await using (var scope = app.CompanyScope(company))
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await using var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(Ct);

            // Two inserts in one write: they could depend on each other, which only EF's dependency sort knows.
            foreach (var id in vehicles)
            {
                var vehicle = await db.Vehicles.SingleAsync(v => v.Id == id, Ct);
                var trip = Trip.RecordAfterwards(Guid.CreateVersion7(), vehicle, driver, write.Now.AddDays(-40), 900_000, "Büro", write.Now.AddDays(-40).AddHours(1), 900_020,
                    new TripDetails(TripCategory.Private, null, null, null, null), write.Now);
                db.Trips.Add(trip);
                trips.Add(trip);
            }

            write.Append("test.direct-save", new { trips = trips.Count });
            var saved = 0;
            db.SavedChanges += (_, _) => saved++;
            await write.CommitAsync(Ct);
            Assert.Equal(1, saved);
        }

        foreach (var trip in trips)
        {
            await AssertStoredAsync(trip);
        }

        Assert.Equal(head + 1, await app.QueryAsync(db => db.Companies.Where(c => c.Id == company).Select(c => c.LogHead).SingleAsync(Ct)));
    }

    /// <summary>Every mapped column of <paramref name="entity"/> as a fresh context reads it back.</summary>
    private async Task AssertStoredAsync<TEntity>(TEntity entity) where TEntity : class
    {
        var type = await app.QueryAsync(db => Task.FromResult(db.Model.FindEntityType(typeof(TEntity))!));
        var key = type.FindPrimaryKey()!.Properties.Single();
        var id = key.GetGetter().GetClrValue(entity)!;
        var stored = await app.QueryAsync(db => db.Set<TEntity>().IgnoreQueryFilters().AsNoTracking()
            .SingleAsync(e => EF.Property<object>(e, key.Name).Equals(id), Ct));
        foreach (var property in type.GetProperties().Where(p => !p.IsShadowProperty()))
        {
            Assert.True(
                Equals(property.GetGetter().GetClrValue(entity), property.GetGetter().GetClrValue(stored)),
                $"{type.DisplayName()}.{property.Name}: wrote {property.GetGetter().GetClrValue(entity)}, read back {property.GetGetter().GetClrValue(stored)}");
        }
    }

    private async Task<(Guid Company, Guid Driver)> CompanyAndDriverAsync() =>
        await app.QueryAsync(async db =>
        {
            var user = await db.Users.OrderBy(u => u.Email).FirstAsync(u => u.Email == "anna@demo.local", Ct);
            return (user.CompanyId, user.Id);
        });

}
