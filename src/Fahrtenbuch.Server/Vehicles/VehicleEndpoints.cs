using System.ComponentModel.DataAnnotations;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Vehicles;

public sealed record CreateVehicleRequest(
    [Required, MinLength(1), MaxLength(20)] string Plate,
    [Required, MinLength(1), MaxLength(200)] string Name,
    [Range(0, Vehicle.MaxOdometer)] int InitialOdometer,
    Guid? AssignedDriverId);

/// <summary>Changes to a vehicle; absent fields stay. <c>IsPoolCar: true</c> removes the assignment.</summary>
public sealed record UpdateVehicleRequest(
    [MinLength(1), MaxLength(200)] string? Name,
    Guid? AssignedDriverId,
    bool? IsPoolCar,
    VehicleStatus? Status);

public sealed record RecordOdometerRequest(
    Guid? Id,
    [Range(0, Vehicle.MaxOdometer)] int Value,
    DateTimeOffset? ReadAt,
    [MaxLength(500)] string? Note);

public enum OdometerSource
{
    Reading,
    TripStart,
    TripEnd,
}

public sealed record OdometerEntry(Guid Id, OdometerSource Source, int Value, DateTimeOffset At, DateTimeOffset RecordedAt, Guid RecordedBy, string? Note, string? Flag, Guid? TripId);

public sealed record OdometerRecorded(Guid Id, Guid VehicleId, int Value, DateTimeOffset ReadAt, DateTimeOffset RecordedAt, Guid RecordedBy, string? Note, string? Flag);

public static class VehicleEndpoints
{
    public static RouteGroupBuilder MapVehicles(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/vehicles").WithTags("Vehicles").RequireAuthorization();
        group.MapGet("/", List);
        group.MapGet("/{id:guid}", Get);
        group.MapPost("/", Create).RequireAuthorization(AuthenticationSetup.ManagerPolicy);
        group.MapPatch("/{id:guid}", Update).RequireAuthorization(AuthenticationSetup.ManagerPolicy);
        group.MapGet("/{id:guid}/odometer", OdometerHistory);
        group.MapPost("/{id:guid}/odometer", RecordOdometer).RequireAuthorization(AuthenticationSetup.WriterPolicy);
        return group;
    }

    /// <summary>All vehicles with their live status (available, in use by whom since when, out of service) and current odometer.</summary>
    public static async Task<Ok<List<VehicleResponse>>> List(AppDbContext db, CancellationToken cancellationToken, bool includeRetired = false) =>
        TypedResults.Ok(await db.LoadBoardAsync(null, includeRetired, cancellationToken));

    public static async Task<Ok<VehicleResponse>> Get(Guid id, AppDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(await db.LoadBoardRowAsync(id, cancellationToken));

    public static async Task<Created<VehicleResponse>> Create(CreateVehicleRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var plate = Vehicle.NormalizePlate(request.Plate);
        if (await db.Vehicles.AnyAsync(v => v.Plate == plate, cancellationToken))
        {
            throw DomainException.Conflict("vehicle.plate-taken", $"A vehicle with plate {plate} already exists.");
        }

        await EnsureDriverAsync(db, request.AssignedDriverId, cancellationToken);
        var vehicle = new Vehicle(me.CompanyId, plate, request.Name, request.InitialOdometer, request.AssignedDriverId, write.Now);
        db.Vehicles.Add(vehicle);
        await db.SaveChangesAsync(cancellationToken);
        var response = await db.LoadBoardRowAsync(vehicle.Id, cancellationToken);
        write.Append(EventTypes.VehicleCreated, response, vehicleId: vehicle.Id);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/vehicles/{vehicle.Id}", response);
    }

    public static async Task<Ok<VehicleResponse>> Update(Guid id, UpdateVehicleRequest request, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var vehicle = await db.Vehicles.SingleOrDefaultAsync(v => v.Id == id, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        if (request.IsPoolCar == true && request.AssignedDriverId is not null)
        {
            throw DomainException.Invalid("vehicle.assignment-ambiguous", "A pool car cannot also be assigned to a driver.");
        }

        await EnsureDriverAsync(db, request.AssignedDriverId, cancellationToken);
        var changeAssignment = request.AssignedDriverId is not null || request.IsPoolCar == true;
        vehicle.Update(request.Name, request.AssignedDriverId, changeAssignment, request.Status);
        await db.SaveChangesAsync(cancellationToken);
        var response = await db.LoadBoardRowAsync(vehicle.Id, cancellationToken);
        write.Append(EventTypes.VehicleUpdated, response, vehicleId: vehicle.Id);
        write.Append(EventTypes.VehicleStatus, response, vehicleId: vehicle.Id);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(response);
    }

    /// <summary>The vehicle's odometer history: recorded readings and the readings of its trips, newest first.</summary>
    public static async Task<Ok<List<OdometerEntry>>> OdometerHistory(Guid id, CurrentUser me, AppDbContext db, CancellationToken cancellationToken, int limit = 200)
    {
        if (!await db.Vehicles.AnyAsync(v => v.Id == id, cancellationToken))
        {
            throw DomainException.NotFound("vehicle");
        }

        limit = Math.Clamp(limit, 1, 1000);
        var readings = await db.OdometerReadings.Where(r => r.VehicleId == id).OrderByDescending(r => r.ReadAt).Take(limit)
            .Select(r => new OdometerEntry(r.Id, OdometerSource.Reading, r.Value, r.ReadAt, r.RecordedAt, r.RecordedBy, r.Note, r.Flag, null))
            .ToListAsync(cancellationToken);
        var trips = await db.Trips.Where(t => t.VehicleId == id && t.State != TripState.Cancelled).OrderByDescending(t => t.StartedAt).Take(limit)
            .ToListAsync(cancellationToken);
        var entries = readings.Concat(trips.SelectMany(t => TripReadings(t))).OrderByDescending(e => e.At).ThenByDescending(e => e.Value).Take(limit).ToList();
        return TypedResults.Ok(entries);
    }

    /// <summary>Uploads an odometer reading. Idempotent by <c>id</c>; a reading below the current odometer is kept but flagged.</summary>
    public static async Task<Results<Created<OdometerRecorded>, Ok<OdometerRecorded>>> RecordOdometer(
        Guid id, RecordOdometerRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var (reading, replayed) = await OdometerCommands.RecordAsync(db, write, me, id, request, cancellationToken);
        await write.CommitAsync(cancellationToken);
        var recorded = OdometerCommands.Describe(reading);
        return replayed ? TypedResults.Ok(recorded) : TypedResults.Created($"/api/vehicles/{id}/odometer", recorded);
    }

    private static IEnumerable<OdometerEntry> TripReadings(Trip t)
    {
        yield return new OdometerEntry(t.Id, OdometerSource.TripStart, t.StartOdometer, t.StartedAt, t.RecordedAt, t.DriverId, null, null, t.Id);
        if (t.EndOdometer is { } end)
        {
            yield return new OdometerEntry(t.Id, OdometerSource.TripEnd, end, t.EndedAt!.Value, t.CompletedRecordedAt ?? t.RecordedAt, t.DriverId, null, null, t.Id);
        }
    }

    private static async Task EnsureDriverAsync(AppDbContext db, Guid? driverId, CancellationToken cancellationToken)
    {
        if (driverId is { } d && !await db.CompanyUsers.AnyAsync(u => u.Id == d && !u.IsDisabled, cancellationToken))
        {
            throw DomainException.Invalid("vehicle.driver-unknown", "The assigned driver does not exist in this company or is disabled.");
        }
    }
}
