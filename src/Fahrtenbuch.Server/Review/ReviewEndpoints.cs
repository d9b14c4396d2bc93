using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Sync;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Review;

/// <summary>A kept sync operation as the review queue shows it.</summary>
public sealed record SyncOperationView(
    Guid Id,
    Guid DeviceId,
    Guid UserId,
    string? UserName,
    string Type,
    DateTimeOffset CapturedAt,
    DateTimeOffset ReceivedAt,
    Guid? TripId,
    Guid? VehicleId,
    JsonElement? Payload,
    SyncStatus Status,
    IReadOnlyList<string> ReviewReasons,
    SyncProblem? Problem);

/// <summary>A trip waiting for review with the sync operations that touched it (a second completion is kept there).</summary>
public sealed record ReviewTrip(TripResponse Trip, List<SyncOperationView> Operations);

/// <summary>An odometer reading flagged by the rules (e.g. below the vehicle's odometer), and how it was resolved.</summary>
public sealed record ReviewReading(
    Guid Id, Guid VehicleId, string? Plate, int Value, DateTimeOffset ReadAt, DateTimeOffset RecordedAt, Guid RecordedBy, string? RecordedByName,
    string? Note, string Flag, Guid? ResolvedBy, DateTimeOffset? ResolvedAt, string? Resolution);

public sealed record ReviewQueue(List<ReviewTrip> Trips, List<SyncOperationView> RejectedOperations, List<ReviewReading> Readings);

public sealed record AcceptReviewRequest([MaxLength(500)] string? Note);

/// <summary>
/// The fleet manager's review queue: trips flagged by the rules or by offline sync, and rejected sync
/// operations. Each resolution (accept, void with reason, correct via a revision, dismiss) writes its event.
/// </summary>
public static class ReviewEndpoints
{
    public static RouteGroupBuilder MapReview(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/review").WithTags("Review")
            .RequireAuthorization(p => p.RequireClaim(Claims.Role, nameof(UserRole.FleetManager), nameof(UserRole.Auditor)));
        group.MapGet("/", Queue);
        var resolve = group.MapGroup("").RequireAuthorization(AuthenticationSetup.ManagerPolicy).RequireRateLimiting(TripEndpoints.WriteRateLimit);
        resolve.MapPost("/trips/{id:guid}/accept", Accept);
        resolve.MapPost("/trips/{id:guid}/void", Void);
        resolve.MapPost("/trips/{id:guid}/correct", Correct);
        resolve.MapPost("/operations/{id:guid}/dismiss", Dismiss);
        resolve.MapPost("/readings/{id:guid}/accept", AcceptReading);
        return group;
    }

    /// <summary>Trips and odometer readings waiting for review (oldest first) and rejected sync operations not yet dismissed.</summary>
    public static async Task<Ok<ReviewQueue>> Queue(CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        var trips = await db.Trips.Where(t => t.Review == ReviewState.Pending).OrderBy(t => t.StartedAt).ThenBy(t => t.Id)
            .Include(t => t.Revisions).AsSplitQuery().AsNoTracking().ToListAsync(cancellationToken);
        var tripIds = trips.Select(t => t.Id).ToList();
        var operations = await db.SyncOperations.AsNoTracking()
            .Where(o => (o.TripId != null && tripIds.Contains(o.TripId.Value)) || (o.Status == SyncStatus.Rejected && o.DismissedAt == null))
            .OrderBy(o => o.ReceivedAt).ThenBy(o => o.Id)
            .ToListAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        var items = trips.Select(t =>
        {
            var restricted = !me.SeesDetails(t);
            var related = operations.Where(o => o.TripId == t.Id).Select(o => Describe(o, names, withPayload: !restricted)).ToList();
            return new ReviewTrip(TripViews.ToResponse(t, names, restricted), related);
        }).ToList();
        var rejected = operations.Where(o => o.Status == SyncStatus.Rejected && o.DismissedAt == null).Select(o => Describe(o, names)).ToList();
        var readings = await db.OdometerReadings.AsNoTracking().Where(r => r.Flag != null && r.ReviewResolvedAt == null)
            .OrderBy(r => r.ReadAt).ThenBy(r => r.Id).ToListAsync(cancellationToken);
        var plates = await db.Vehicles.AsNoTracking().ToDictionaryAsync(v => v.Id, v => v.Plate, cancellationToken);
        return TypedResults.Ok(new ReviewQueue(items, rejected, readings.Select(r => Describe(r, plates, names)).ToList()));
    }

    /// <summary>Accepts the trip as it is; its review reasons stay as the record of what was found.</summary>
    public static async Task<Ok<TripResponse>> Accept(Guid id, AcceptReviewRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var trip = await TripCommands.LoadAsync(db, id, cancellationToken);
        trip.ResolveReview(me.Id, write.Now, string.IsNullOrWhiteSpace(request.Note) ? "accepted" : $"accepted: {request.Note.Trim()}");
        return await ResolvedAsync(db, write, trip, cancellationToken);
    }

    /// <summary>Resolves by voiding the trip with a reason (an active trip is cancelled); it stays visible.</summary>
    public static async Task<Ok<TripResponse>> Void(Guid id, ReasonRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var trip = await TripCommands.LoadAsync(db, id, cancellationToken);
        trip.ResolveReview(me.Id, write.Now, $"voided: {request.Reason.Trim()}");
        if (trip.State == TripState.Completed)
        {
            await TripCommands.VoidAsync(db, write, me, id, request, cancellationToken);
        }
        else if (trip.State == TripState.Active)
        {
            await TripCommands.CancelAsync(db, write, me, id, request, ConflictPolicy.Refuse, cancellationToken);
        }

        return await ResolvedAsync(db, write, trip, cancellationToken);
    }

    /// <summary>Resolves by correcting the trip's details as a new revision (who, when, why, old and new values).</summary>
    public static async Task<Ok<TripResponse>> Correct(Guid id, CorrectTripRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        TripCommands.EnsureNoFrozenFields(request);
        await using var write = await log.BeginAsync(cancellationToken);
        var trip = await TripCommands.LoadAsync(db, id, cancellationToken);
        trip.ResolveReview(me.Id, write.Now, $"corrected: {request.Reason.Trim()}");
        await TripCommands.CorrectAsync(db, write, me, id, request, cancellationToken);
        return await ResolvedAsync(db, write, trip, cancellationToken);
    }

    /// <summary>Closes a rejected sync operation with a reason; it stays stored.</summary>
    public static async Task<Ok<SyncOperationView>> Dismiss(Guid id, ReasonRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var operation = await db.SyncOperations.SingleOrDefaultAsync(o => o.Id == id, cancellationToken) ?? throw DomainException.NotFound("operation");
        operation.Dismiss(me.Id, write.Now, request.Reason);
        await db.SaveChangesAsync(cancellationToken);
        var view = Describe(operation, await db.UserNamesAsync(cancellationToken));
        write.Append(EventTypes.SyncDismissed, view, tripId: operation.TripId, ownerId: operation.UserId,
            restrictedData: new SyncRejectedSummary(operation.Id, operation.Type), audience: EventAudience.Managers);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(view);
    }

    /// <summary>Accepts a flagged odometer reading as recorded, with an optional note; the reading and its flag stay.</summary>
    public static async Task<Ok<ReviewReading>> AcceptReading(
        Guid id, AcceptReviewRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var reading = await db.OdometerReadings.SingleOrDefaultAsync(r => r.Id == id, cancellationToken) ?? throw DomainException.NotFound("reading");
        reading.ResolveReview(me.Id, write.Now, request.Note);
        await db.SaveChangesAsync(cancellationToken);
        var plates = await db.Vehicles.AsNoTracking().Where(v => v.Id == reading.VehicleId).ToDictionaryAsync(v => v.Id, v => v.Plate, cancellationToken);
        var view = Describe(reading, plates, await db.UserNamesAsync(cancellationToken));
        write.Append(EventTypes.OdometerReviewResolved, view, vehicleId: reading.VehicleId, ownerId: reading.RecordedBy);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(view);
    }

    public static ReviewReading Describe(OdometerReading r, IReadOnlyDictionary<Guid, string> plates, IReadOnlyDictionary<Guid, string> names) => new(
        r.Id, r.VehicleId, plates.GetValueOrDefault(r.VehicleId), r.Value, r.ReadAt, r.RecordedAt, r.RecordedBy, names.GetValueOrDefault(r.RecordedBy),
        r.Note, r.Flag!, r.ReviewResolvedBy, r.ReviewResolvedAt, r.ReviewResolution);

    public static SyncOperationView Describe(SyncOperation o, IReadOnlyDictionary<Guid, string> names, bool withPayload = true) => new(
        o.Id,
        o.DeviceId,
        o.UserId,
        names.GetValueOrDefault(o.UserId),
        o.Type,
        o.CapturedAt,
        o.ReceivedAt,
        o.TripId,
        o.VehicleId,
        withPayload && o.Payload is { } payload ? ParsePayload(payload) : null,
        o.Status,
        o.ReasonList,
        o.ProblemCode is { } code ? new SyncProblem(code, o.ProblemDetail ?? "") : null);

    private static JsonElement? ParsePayload(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task<Ok<TripResponse>> ResolvedAsync(AppDbContext db, LogTransaction write, Trip trip, CancellationToken cancellationToken)
    {
        await db.SaveChangesAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        write.AppendTrip(EventTypes.TripReviewResolved, trip, names);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(TripViews.ToResponse(trip, names, restricted: false));
    }
}
