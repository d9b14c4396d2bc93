using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Trips;

/// <summary>
/// How a command treats a clash with what others did meanwhile. An online request is refused
/// (the driver sees it at once and can react); an operation synced from an offline queue already
/// happened in the real world, so it is kept and every trip involved is flagged for review.
/// </summary>
public enum ConflictPolicy
{
    Refuse,
    Flag,
}

/// <summary>
/// What a trip command did: the trip, whether it only answered a repeat, and whether the operation was kept without being applied.
/// <see cref="Names"/> are the names of the people the command's events show (those of <see cref="Trip"/> among them) when it
/// read them, so the response need not read them again; not the whole company's.
/// </summary>
public sealed record TripOutcome(Trip Trip, bool Replayed, bool KeptOnly = false, IReadOnlyDictionary<Guid, string>? Names = null);

/// <summary>
/// The trip writes shared by the REST endpoints and offline sync. Each runs inside the caller's
/// <see cref="LogTransaction"/>, changes the tracked entities and appends its events; the caller's commit saves
/// the entities in one <c>SaveChanges</c> and the events with one plain insert (every statement runs under the write lock).
/// </summary>
public static class TripCommands
{
    // The loads every trip write makes while it holds the company's write lock, as EF queries compiled once: PlainEntities
    // reads the usual case with a plain statement and falls back to these (a trip with revisions or annotations).
    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<Trip?>> TripWithRevisions =
        EF.CompileAsyncQuery((AppDbContext db, Guid id, CancellationToken _) =>
            db.Trips.Include(t => t.Revisions).SingleOrDefault(t => t.Id == id));

    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<Vehicle?>> VehicleById =
        EF.CompileAsyncQuery((AppDbContext db, Guid id, CancellationToken _) => db.Vehicles.SingleOrDefault(v => v.Id == id));

    public static async Task<TripOutcome> StartAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, StartTripRequest request, ConflictPolicy policy, CancellationToken cancellationToken)
    {
        var id = request.Id ?? Guid.CreateVersion7();
        if (await FindForReplayAsync(db, id, cancellationToken) is { } existing)
        {
            if (existing.VehicleId != request.VehicleId || existing.DriverId != me.Id)
            {
                throw IdReused();
            }

            return new TripOutcome(existing, Replayed: true);
        }

        var vehicle = await PlainEntities.FindAsync(db, request.VehicleId, VehicleById, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        var inUse = new List<Trip>();
        if (vehicle.ActiveTripId is not null)
        {
            if (policy == ConflictPolicy.Refuse)
            {
                throw DomainException.Conflict("trip.vehicle-in-use", "The vehicle is already in use on another trip.");
            }

            inUse = await db.Trips.Where(t => t.VehicleId == vehicle.Id && t.State == TripState.Active).ToListAsync(cancellationToken);
        }

        if (policy == ConflictPolicy.Refuse && await DriverHasActiveTripAsync(db, me.Id, cancellationToken))
        {
            throw DomainException.Conflict("trip.driver-has-active-trip", "You already have an active trip; complete or cancel it first.");
        }

        var driverBusy = policy == ConflictPolicy.Refuse ? [] : await db.Trips.Where(t => t.DriverId == me.Id && t.State == TripState.Active).ToListAsync(cancellationToken);

        var startOdometer = request.StartOdometer ?? vehicle.CurrentOdometer;
        var trip = Trip.Start(id, vehicle, me.Id, startOdometer, Instants.Normalize(request.StartedAt) ?? write.Now, request.StartPlace, write.Now);
        if (startOdometer < vehicle.CurrentOdometer)
        {
            trip.FlagForReview(ReviewReasons.OdometerBackwards);
        }
        else
        {
            trip.ReportGap(startOdometer - vehicle.CurrentOdometer);
        }

        var flagged = new List<Trip> { trip };
        foreach (var other in inUse)
        {
            other.FlagForReview(ReviewReasons.VehicleInUse);
            trip.FlagForReview(ReviewReasons.VehicleInUse);
            flagged.Add(other);
        }

        foreach (var other in driverBusy.Where(t => !flagged.Contains(t)))
        {
            other.FlagForReview(ReviewReasons.DriverOverlap);
            trip.FlagForReview(ReviewReasons.DriverOverlap);
            flagged.Add(other);
        }

        vehicle.ObserveOdometer(startOdometer, trip.StartedAt);
        db.Trips.Add(trip);

        var names = await NamesAsync(db, flagged, vehicle, cancellationToken);
        write.AppendTrip(EventTypes.TripStarted, trip, names);
        await AppendReviewAndStatusAsync(write, db, names, flagged, vehicle, cancellationToken);
        return new TripOutcome(trip, Replayed: false, Names: names);
    }

    public static async Task<TripOutcome> CompleteAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, Guid id, CompleteTripRequest request, ConflictPolicy policy, CancellationToken cancellationToken)
    {
        var trip = await LoadAsync(db, id, cancellationToken);
        EnsureMayChange(me, trip);
        if (trip.State == TripState.Completed && trip.EndOdometer == request.EndOdometer && trip.Category == request.Category)
        {
            return new TripOutcome(trip, Replayed: true);
        }

        if (trip.State != TripState.Active && policy == ConflictPolicy.Flag)
        {
            // Completed on another device, or closed by someone else: the frozen trip stays, this completion is kept with the operation.
            return await KeepAndFlagAsync(db, write, trip, trip.State == TripState.Completed ? ReviewReasons.CompletedTwice : ReviewReasons.ClosedElsewhere, cancellationToken);
        }

        var vehicle = await PlainEntities.FindAsync(db, trip.VehicleId, VehicleById, cancellationToken) ?? throw new InvalidOperationException("A trip's vehicle is missing.");
        trip.Complete(request.EndOdometer, Instants.Normalize(request.EndedAt) ?? write.Now,
            new TripDetails(request.Category, request.Destination, request.Purpose, request.BusinessPartner, request.EndPlace), write.Now);
        await ReleaseAsync(db, vehicle, trip, cancellationToken);
        vehicle.ObserveOdometer(request.EndOdometer, trip.EndedAt!.Value);
        var flagged = await FlagOverlapsAsync(db, trip, cancellationToken);

        var names = await NamesAsync(db, [trip, .. flagged], vehicle, cancellationToken);
        write.AppendTrip(EventTypes.TripCompleted, trip, names);
        await AppendReviewAndStatusAsync(write, db, names, flagged, vehicle, cancellationToken);
        return new TripOutcome(trip, Replayed: false, Names: names);
    }

    public static async Task<TripOutcome> RecordAfterwardsAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, RecordTripRequest request, CancellationToken cancellationToken)
    {
        var driverId = request.DriverId ?? me.Id;
        if (driverId != me.Id && !me.IsManager)
        {
            throw DomainException.Forbidden("trip.not-your-trip", "Only a fleet manager may enter a trip for another driver.");
        }

        var id = request.Id ?? Guid.CreateVersion7();
        if (await FindForReplayAsync(db, id, cancellationToken) is { } existing)
        {
            if (existing.VehicleId != request.VehicleId || existing.DriverId != driverId || existing.StartOdometer != request.StartOdometer)
            {
                throw IdReused();
            }

            return new TripOutcome(existing, Replayed: true);
        }

        if (driverId != me.Id && (await db.UserNamesAsync([driverId], cancellationToken)).Count == 0)
        {
            throw DomainException.Invalid("trip.driver-unknown", "The driver does not exist in this company.");
        }

        var vehicle = await db.Vehicles.SingleOrDefaultAsync(v => v.Id == request.VehicleId, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        var trip = Trip.RecordAfterwards(id, vehicle, driverId, Instants.Normalize(request.StartedAt), request.StartOdometer, request.StartPlace,
            Instants.Normalize(request.EndedAt), request.EndOdometer,
            new TripDetails(request.Category, request.Destination, request.Purpose, request.BusinessPartner, request.EndPlace), write.Now);
        vehicle.ObserveOdometer(request.EndOdometer, trip.EndedAt!.Value);
        db.Trips.Add(trip);
        var flagged = await FlagOverlapsAsync(db, trip, cancellationToken);

        var names = await NamesAsync(db, [trip, .. flagged], vehicle, cancellationToken);
        write.AppendTrip(EventTypes.TripRecorded, trip, names);
        await AppendReviewAndStatusAsync(write, db, names, flagged, vehicle, cancellationToken);
        return new TripOutcome(trip, Replayed: false, Names: names);
    }

    public static async Task<TripOutcome> CancelAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, Guid id, ReasonRequest request, ConflictPolicy policy, CancellationToken cancellationToken)
    {
        var trip = await LoadAsync(db, id, cancellationToken);
        EnsureMayChange(me, trip);
        if (trip.State == TripState.Cancelled)
        {
            return new TripOutcome(trip, Replayed: true);
        }

        if (trip.State != TripState.Active && policy == ConflictPolicy.Flag)
        {
            return await KeepAndFlagAsync(db, write, trip, ReviewReasons.ClosedElsewhere, cancellationToken);
        }

        var vehicle = await db.Vehicles.SingleAsync(v => v.Id == trip.VehicleId, cancellationToken);
        trip.Cancel(request.Reason, me.Id, write.Now);
        await ReleaseAsync(db, vehicle, trip, cancellationToken);
        var names = await NamesAsync(db, [trip], vehicle, cancellationToken);
        write.AppendTrip(EventTypes.TripCancelled, trip, names);
        write.Append(EventTypes.VehicleStatus, await db.BoardRowAsync(vehicle, cancellationToken, names), vehicleId: vehicle.Id);
        return new TripOutcome(trip, Replayed: false);
    }

    public static async Task<TripOutcome> VoidAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, Guid id, ReasonRequest request, CancellationToken cancellationToken)
    {
        var trip = await LoadAsync(db, id, cancellationToken);
        EnsureMayChange(me, trip);
        if (trip.State == TripState.Voided)
        {
            return new TripOutcome(trip, Replayed: true);
        }

        trip.Void(request.Reason, me.Id, write.Now);
        write.AppendTrip(EventTypes.TripVoided, trip, await db.UserNamesAsync(TripViews.PeopleOf(trip), cancellationToken));
        return new TripOutcome(trip, Replayed: false);
    }

    public static async Task<TripOutcome> CorrectAsync(
        AppDbContext db, LogTransaction write, CurrentUser me, Guid id, CorrectTripRequest request, CancellationToken cancellationToken)
    {
        EnsureNoFrozenFields(request);
        var trip = await LoadAsync(db, id, cancellationToken);
        EnsureMayChange(me, trip);
        var revision = trip.Correct(
            new TripCorrection(request.Reason, request.Category, request.Destination, request.Purpose, request.BusinessPartner, request.StartPlace, request.EndPlace),
            me.Id,
            write.Now);
        db.TripRevisions.Add(revision);
        write.AppendTrip(EventTypes.TripCorrected, trip, await db.UserNamesAsync(TripViews.PeopleOf(trip), cancellationToken));
        return new TripOutcome(trip, Replayed: false);
    }

    public static void EnsureNoFrozenFields(CorrectTripRequest request)
    {
        if (request.Other is { Count: > 0 } other)
        {
            var frozen = other.Keys.Where(k => Trip.FrozenFields.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
            throw frozen.Count > 0
                ? DomainException.Invalid("trip.field-frozen", $"{string.Join(", ", frozen)} of a completed trip cannot be changed; void the trip with a reason and enter it anew.")
                : new DomainException(400, ErrorCodes.Malformed, $"Unknown field(s): {string.Join(", ", other.Keys)}.");
        }
    }

    public static async Task<Trip> LoadAsync(AppDbContext db, Guid id, CancellationToken cancellationToken) =>
        await PlainEntities.FindAsync(db, id, TripWithRevisions, cancellationToken) ?? throw DomainException.NotFound("trip");

    private static async Task<TripOutcome> KeepAndFlagAsync(AppDbContext db, LogTransaction write, Trip trip, string reason, CancellationToken cancellationToken)
    {
        trip.FlagForReview(reason);
        write.AppendTrip(EventTypes.TripNeedsReview, trip, await db.UserNamesAsync(TripViews.PeopleOf(trip), cancellationToken));
        return new TripOutcome(trip, Replayed: false, KeptOnly: true);
    }

    /// <summary>Frees the vehicle; when a conflicting synced trip is still active on it, the vehicle stays in use by that one.</summary>
    private static async Task ReleaseAsync(AppDbContext db, Vehicle vehicle, Trip trip, CancellationToken cancellationToken)
    {
        vehicle.Release(trip.Id);
        if (vehicle.ActiveTripId is null && await OtherActiveTripAsync(db, vehicle.Id, trip.Id, cancellationToken) is { } stillActive)
        {
            vehicle.CheckOut(stillActive);
        }
    }

    private static async Task<Trip?> FindForReplayAsync(AppDbContext db, Guid id, CancellationToken cancellationToken)
    {
        // A new id (the usual case) costs one look-up; only a repeat loads the trip.
        var owner = await TripOwnerAsync(db, id, cancellationToken);
        if (owner is null)
        {
            return null;
        }

        // An id taken by another company must not be reused, and must not reveal that it exists.
        return owner == db.CompanyId ? await LoadAsync(db, id, cancellationToken) : throw IdReused();
    }

    // The look-ups below read a value, not an entity, on every trip write under the write lock: plain statements (see PlainQuery).

    /// <summary>The company a trip id belongs to, whichever company that is (an id must not be reused across companies).</summary>
    private static async Task<Guid?> TripOwnerAsync(AppDbContext db, Guid id, CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, "SELECT \"CompanyId\" FROM \"Trips\" WHERE \"Id\" = @id", cancellationToken)).Id("@id", id);
        return await query.IdAsync(cancellationToken);
    }

    private static async Task<bool> DriverHasActiveTripAsync(AppDbContext db, Guid driverId, CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, """
            SELECT EXISTS (SELECT 1 FROM "Trips" WHERE "CompanyId" = @company AND "DriverId" = @driver AND "State" = 'Active')
            """, cancellationToken)).Id("@company", db.CompanyId).Id("@driver", driverId);
        return Convert.ToBoolean(await query.ScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The newest other active trip on the vehicle (only a flagged sync conflict leaves one), or null.</summary>
    private static async Task<Guid?> OtherActiveTripAsync(AppDbContext db, Guid vehicleId, Guid tripId, CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, """
            SELECT "Id" FROM "Trips" WHERE "CompanyId" = @company AND "VehicleId" = @vehicle AND "State" = 'Active' AND "Id" <> @trip
            ORDER BY "StartedAt" DESC LIMIT 1
            """, cancellationToken)).Id("@company", db.CompanyId).Id("@vehicle", vehicleId).Id("@trip", tripId);
        return await query.IdAsync(cancellationToken);
    }

    private static void EnsureMayChange(CurrentUser me, Trip trip)
    {
        if (trip.DriverId != me.Id && !me.IsManager)
        {
            throw DomainException.Forbidden("trip.not-your-trip", "Only the trip's driver or a fleet manager may change it.");
        }
    }

    private static DomainException IdReused() =>
        DomainException.Conflict("request.id-reused", "This id was already used for a different trip.");

    /// <summary>Flags this trip and every trip it collides with (odometer range, time span, driver), keeping all of them.</summary>
    private static async Task<List<Trip>> FlagOverlapsAsync(AppDbContext db, Trip trip, CancellationToken cancellationToken)
    {
        var end = trip.EndOdometer!.Value;
        var endedAt = trip.EndedAt!.Value;
        var ids = await OverlappingAsync(db, trip, end, endedAt, cancellationToken);
        var others = ids.Count == 0 ? [] : await db.Trips.Where(t => ids.Contains(t.Id)).ToListAsync(cancellationToken);

        var flagged = new List<Trip>();
        foreach (var other in others)
        {
            var reasons = new List<string>();
            if (other.VehicleId == trip.VehicleId && other.StartOdometer < end && trip.StartOdometer < other.EndOdometer)
            {
                reasons.Add(ReviewReasons.OdometerOverlap);
            }

            if (other.VehicleId == trip.VehicleId && other.StartedAt < endedAt && trip.StartedAt < other.EndedAt)
            {
                reasons.Add(ReviewReasons.TimeOverlap);
            }
            else if (other.DriverId == trip.DriverId && other.StartedAt < endedAt && trip.StartedAt < other.EndedAt)
            {
                reasons.Add(ReviewReasons.DriverOverlap);
            }

            foreach (var reason in reasons)
            {
                other.FlagForReview(reason);
                trip.FlagForReview(reason);
            }

            flagged.Add(other);
        }

        if (trip.Review == ReviewState.Pending)
        {
            flagged.Insert(0, trip);
        }

        return flagged;
    }

    /// <summary>
    /// The completed trips this one collides with: usually none, so the ids come from a plain statement (every completion asks
    /// under the write lock, see <see cref="PlainQuery"/>) and only trips that collide are loaded as entities. One index range
    /// per way of overlapping (see the partial indexes on Trip): an OR over all three made the database walk every trip of
    /// the company.
    /// </summary>
    private static async Task<List<Guid>> OverlappingAsync(AppDbContext db, Trip trip, int end, DateTimeOffset endedAt, CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, """
            SELECT "Id" FROM "Trips" WHERE "CompanyId" = @company AND "VehicleId" = @vehicle AND "State" = 'Completed' AND "Id" <> @trip
                AND @start < "EndOdometer" AND "StartOdometer" < @end
            UNION
            SELECT "Id" FROM "Trips" WHERE "CompanyId" = @company AND "VehicleId" = @vehicle AND "State" = 'Completed' AND "Id" <> @trip
                AND @startedAt < "EndedAt" AND "StartedAt" < @endedAt
            UNION
            SELECT "Id" FROM "Trips" WHERE "CompanyId" = @company AND "DriverId" = @driver AND "State" = 'Completed' AND "Id" <> @trip
                AND @startedAt < "EndedAt" AND "StartedAt" < @endedAt
            """, cancellationToken))
            .Id("@company", db.CompanyId).Id("@vehicle", trip.VehicleId).Id("@driver", trip.DriverId).Id("@trip", trip.Id)
            .Int("@start", trip.StartOdometer).Int("@end", end).Instant("@startedAt", trip.StartedAt).Instant("@endedAt", endedAt);
        return await query.IdsAsync(cancellationToken);
    }

    /// <summary>
    /// The names the write's events show: the people of <paramref name="trips"/> and the vehicle's assigned driver (the board
    /// row reads anyone else it shows itself, see <see cref="VehicleViews.BoardRowAsync"/>).
    /// </summary>
    private static Task<Dictionary<Guid, string>> NamesAsync(AppDbContext db, IEnumerable<Trip> trips, Vehicle vehicle, CancellationToken cancellationToken) =>
        db.UserNamesAsync(trips.SelectMany(TripViews.PeopleOf).Concat(vehicle.AssignedDriverId is { } assigned ? [assigned] : []), cancellationToken);

    private static async Task AppendReviewAndStatusAsync(LogTransaction write, AppDbContext db, IReadOnlyDictionary<Guid, string> names, IEnumerable<Trip> trips, Vehicle vehicle, CancellationToken cancellationToken)
    {
        foreach (var flagged in trips.Where(t => t.Review == ReviewState.Pending))
        {
            write.AppendTrip(EventTypes.TripNeedsReview, flagged, names);
        }

        write.Append(EventTypes.VehicleStatus, await db.BoardRowAsync(vehicle, cancellationToken, names), vehicleId: vehicle.Id);
    }
}
