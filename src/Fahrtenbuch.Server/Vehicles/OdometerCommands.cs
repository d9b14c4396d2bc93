using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Vehicles;

/// <summary>The odometer write shared by the REST endpoint and offline sync; runs inside the caller's log transaction.</summary>
public static class OdometerCommands
{
    public static async Task<(OdometerReading Reading, bool Replayed)> RecordAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, Guid vehicleId, RecordOdometerRequest request, CancellationToken cancellationToken)
    {
        var readingId = request.Id ?? Guid.CreateVersion7();

        // An id taken by another company must not be reused (the insert would fail), and must not reveal that reading.
        if (await db.OdometerReadings.IgnoreQueryFilters().AnyAsync(r => r.Id == readingId && r.CompanyId != me.CompanyId, cancellationToken))
        {
            throw DomainException.Conflict("request.id-reused", "This id was already used for a different reading.");
        }

        if (await db.OdometerReadings.SingleOrDefaultAsync(r => r.Id == readingId, cancellationToken) is { } existing)
        {
            if (existing.VehicleId != vehicleId || existing.Value != request.Value)
            {
                throw DomainException.Conflict("request.id-reused", "This id was already used for a different reading.");
            }

            return (existing, true);
        }

        var vehicle = await db.Vehicles.SingleOrDefaultAsync(v => v.Id == vehicleId, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        var readAt = Instants.Normalize(request.ReadAt) ?? write.Now;
        if (readAt > write.Now.AddMinutes(5))
        {
            throw DomainException.Invalid("odometer.in-future", "The reading time lies in the future.");
        }

        var reading = new OdometerReading(readingId, me.CompanyId, vehicle.Id, request.Value, readAt, write.Now, me.Id, request.Note);
        if (request.Value < vehicle.CurrentOdometer)
        {
            reading.FlagForReview(ReviewReasons.OdometerBackwards);
        }

        vehicle.ObserveOdometer(request.Value, readAt);
        db.OdometerReadings.Add(reading);
        await db.SaveChangesAsync(cancellationToken);
        write.Append(EventTypes.OdometerRecorded, Describe(reading), vehicleId: vehicle.Id, ownerId: me.Id);
        write.Append(EventTypes.VehicleStatus, await db.LoadBoardRowAsync(vehicle.Id, cancellationToken), vehicleId: vehicle.Id);
        return (reading, false);
    }

    public static OdometerRecorded Describe(OdometerReading r) => new(r.Id, r.VehicleId, r.Value, r.ReadAt, r.RecordedAt, r.RecordedBy, r.Note, r.Flag);
}
