using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Vehicles;

public enum VehicleAvailability
{
    Available,
    InUse,
    OutOfService,
    Retired,
}

/// <summary>Who has the car right now; the same for every viewer of the company.</summary>
public sealed record VehicleUse(Guid TripId, Guid DriverId, string DriverName, DateTimeOffset Since, int StartOdometer);

/// <summary>A vehicle as the live board shows it: its data, its status now and its current odometer.</summary>
public sealed record VehicleResponse(
    Guid Id,
    string Plate,
    string Name,
    bool IsPoolCar,
    Guid? AssignedDriverId,
    string? AssignedDriverName,
    int InitialOdometer,
    int CurrentOdometer,
    DateTimeOffset OdometerUpdatedAt,
    VehicleStatus Status,
    VehicleAvailability Availability,
    VehicleUse? InUse);

public static class VehicleViews
{
    /// <summary>The board rows for the caller's company, optionally for one vehicle, read in one round of queries.</summary>
    public static async Task<List<VehicleResponse>> LoadBoardAsync(
        this AppDbContext db, Guid? vehicleId, bool includeRetired, CancellationToken cancellationToken, IReadOnlyDictionary<Guid, string>? names = null)
    {
        var vehicles = await db.Vehicles
            .Where(v => vehicleId == null || v.Id == vehicleId)
            .Where(v => includeRetired || vehicleId != null || v.Status != VehicleStatus.Retired)
            .OrderBy(v => v.Plate)
            .ToListAsync(cancellationToken);
        var active = await db.Trips
            .Where(t => t.State == TripState.Active && (vehicleId == null || t.VehicleId == vehicleId))
            .Select(t => new { t.VehicleId, t.Id, t.DriverId, t.StartedAt, t.StartOdometer })
            .ToListAsync(cancellationToken);
        names ??= await db.UserNamesAsync(cancellationToken);

        // Two active trips on one car exist only as a flagged sync conflict; the board shows the latest start.
        var inUse = active.GroupBy(t => t.VehicleId).ToDictionary(
            g => g.Key,
            g => g.OrderByDescending(t => t.StartedAt).Select(t => new VehicleUse(t.Id, t.DriverId, names.GetValueOrDefault(t.DriverId, ""), t.StartedAt, t.StartOdometer)).First());
        return vehicles.Select(v => ToResponse(v, inUse.GetValueOrDefault(v.Id), names)).ToList();
    }

    // Every trip write appends its vehicle's row; compiled once (see TripCommands).
    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<Vehicle?>> VehicleById =
        EF.CompileAsyncQuery((AppDbContext db, Guid id, CancellationToken _) => db.Vehicles.SingleOrDefault(v => v.Id == id));

    /// <summary>One vehicle's board row; a caller that already read user names passes them on.</summary>
    public static async Task<VehicleResponse> LoadBoardRowAsync(
        this AppDbContext db, Guid vehicleId, CancellationToken cancellationToken, IReadOnlyDictionary<Guid, string>? names = null)
    {
        var vehicle = await VehicleById(db, vehicleId, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        return await db.BoardRowAsync(vehicle, cancellationToken, names);
    }

    /// <summary>
    /// The board row of a vehicle the caller already holds (a write that just changed it): only who uses it is read, and
    /// the trips this context tracks count as they are now, so a write need not save before it describes the vehicle.
    /// </summary>
    public static async Task<VehicleResponse> BoardRowAsync(
        this AppDbContext db, Vehicle vehicle, CancellationToken cancellationToken, IReadOnlyDictionary<Guid, string>? names = null)
    {
        var active = await ActiveUsesAsync(db, vehicle.Id, cancellationToken);

        foreach (var entry in db.TrackedEntries<Trip>())
        {
            var trip = entry.Entity;
            if (trip.VehicleId != vehicle.Id)
            {
                continue;
            }

            if (trip.State == TripState.Active && entry.State != EntityState.Deleted)
            {
                active[trip.Id] = new VehicleUse(trip.Id, trip.DriverId, "", trip.StartedAt, trip.StartOdometer);
            }
            else
            {
                active.Remove(trip.Id);
            }
        }

        // Two active trips on one car exist only as a flagged sync conflict; the board shows the latest start (as LoadBoardAsync).
        var latest = active.Values.MaxBy(use => use.Since);

        // The row names the car's driver and its assigned driver; a caller's names may hold only the people of its own write.
        Guid[] people = [.. new[] { latest?.DriverId, vehicle.AssignedDriverId }.OfType<Guid>()];
        if (names is null || !people.All(names.ContainsKey))
        {
            names = await db.UserNamesAsync(people, cancellationToken);
        }

        return ToResponse(vehicle, latest is null ? null : latest with { DriverName = names.GetValueOrDefault(latest.DriverId, "") }, names);
    }

    /// <summary>
    /// Who is on the car by the database, as stored: a plain statement, since every trip write asks while it holds the write
    /// lock (see <see cref="PlainQuery"/>).
    /// </summary>
    private static async Task<Dictionary<Guid, VehicleUse>> ActiveUsesAsync(AppDbContext db, Guid vehicleId, CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, """
            SELECT "Id", "DriverId", "StartedAt", "StartOdometer" FROM "Trips"
            WHERE "CompanyId" = @company AND "VehicleId" = @vehicle AND "State" = 'Active'
            """, cancellationToken)).Id("@company", db.CompanyId).Id("@vehicle", vehicleId);
        var active = new Dictionary<Guid, VehicleUse>();
        await using var reader = await query.ReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var tripId = reader.GetGuid(0);
            active[tripId] = new VehicleUse(tripId, reader.GetGuid(1), "", query.ReadInstant(reader, 2), reader.GetInt32(3));
        }

        return active;
    }

    private static VehicleResponse ToResponse(Vehicle v, VehicleUse? use, IReadOnlyDictionary<Guid, string> names) => new(
        v.Id,
        v.Plate,
        v.Name,
        v.AssignedDriverId is null,
        v.AssignedDriverId,
        v.AssignedDriverId is { } d ? names.GetValueOrDefault(d) : null,
        v.InitialOdometer,
        v.CurrentOdometer,
        v.OdometerUpdatedAt,
        v.Status,
        v.Status switch
        {
            VehicleStatus.Retired => VehicleAvailability.Retired,
            VehicleStatus.OutOfService => VehicleAvailability.OutOfService,
            _ when use is not null => VehicleAvailability.InUse,
            _ => VehicleAvailability.Available,
        },
        use);
}
