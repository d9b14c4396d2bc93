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
    public static async Task<List<VehicleResponse>> LoadBoardAsync(this AppDbContext db, Guid? vehicleId, bool includeRetired, CancellationToken cancellationToken)
    {
        var vehicles = await db.Vehicles
            .Where(v => vehicleId == null || v.Id == vehicleId)
            .Where(v => includeRetired || vehicleId != null || v.Status != VehicleStatus.Retired)
            .OrderBy(v => v.Plate)
            .ToListAsync(cancellationToken);
        var active = await db.Trips
            .Where(t => t.State == TripState.Active && (vehicleId == null || t.VehicleId == vehicleId))
            .Join(db.CompanyUsers, t => t.DriverId, u => u.Id, (t, u) => new { t.VehicleId, Use = new VehicleUse(t.Id, t.DriverId, u.DisplayName, t.StartedAt, t.StartOdometer) })
            .ToListAsync(cancellationToken);

        // Two active trips on one car exist only as a flagged sync conflict; the board shows the latest start.
        var inUse = active.GroupBy(x => x.VehicleId).ToDictionary(g => g.Key, g => g.OrderByDescending(x => x.Use.Since).First().Use);
        var names = await db.CompanyUsers.ToDictionaryAsync(u => u.Id, u => u.DisplayName, cancellationToken);
        return vehicles.Select(v => ToResponse(v, inUse.GetValueOrDefault(v.Id), names)).ToList();
    }

    public static async Task<VehicleResponse> LoadBoardRowAsync(this AppDbContext db, Guid vehicleId, CancellationToken cancellationToken) =>
        (await db.LoadBoardAsync(vehicleId, includeRetired: true, cancellationToken)).SingleOrDefault()
        ?? throw DomainException.NotFound("vehicle");

    private static VehicleResponse ToResponse(Vehicle v, VehicleUse? use, Dictionary<Guid, string> names) => new(
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
