using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Trips;

public sealed record StartTripRequest(
    Guid? Id,
    Guid VehicleId,
    [Range(0, Vehicle.MaxOdometer)] int? StartOdometer,
    DateTimeOffset? StartedAt,
    [MaxLength(500)] string? StartPlace);

public sealed record CompleteTripRequest(
    [Range(0, Vehicle.MaxOdometer)] int EndOdometer,
    DateTimeOffset? EndedAt,
    TripCategory Category,
    [MaxLength(500)] string? Destination,
    [MaxLength(500)] string? Purpose,
    [MaxLength(500)] string? BusinessPartner,
    [MaxLength(500)] string? EndPlace);

public sealed record RecordTripRequest(
    Guid? Id,
    Guid VehicleId,
    Guid? DriverId,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    [Range(0, Vehicle.MaxOdometer)] int StartOdometer,
    [Range(0, Vehicle.MaxOdometer)] int EndOdometer,
    TripCategory Category,
    [MaxLength(500)] string? StartPlace,
    [MaxLength(500)] string? EndPlace,
    [MaxLength(500)] string? Destination,
    [MaxLength(500)] string? Purpose,
    [MaxLength(500)] string? BusinessPartner);

public sealed record ReasonRequest([Required, MinLength(1), MaxLength(500)] string Reason);

/// <summary>A correction of a completed trip's details. Frozen fields (times, odometer, vehicle, driver) are refused by name.</summary>
public sealed record CorrectTripRequest(
    [Required, MinLength(1), MaxLength(500)] string Reason,
    TripCategory? Category,
    [MaxLength(500)] string? Destination,
    [MaxLength(500)] string? Purpose,
    [MaxLength(500)] string? BusinessPartner,
    [MaxLength(500)] string? StartPlace,
    [MaxLength(500)] string? EndPlace)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Other { get; init; }
}

public static class TripEndpoints
{
    public const string WriteRateLimit = "writes";

    public static RouteGroupBuilder MapTrips(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/trips").WithTags("Trips").RequireAuthorization();
        group.MapGet("/", List);
        group.MapGet("/{id:guid}", Get);
        var writes = group.MapGroup("").RequireAuthorization(AuthenticationSetup.WriterPolicy).RequireRateLimiting(WriteRateLimit);
        writes.MapPost("/", Start);
        writes.MapPost("/late", RecordAfterwards);
        writes.MapPost("/{id:guid}/complete", Complete);
        writes.MapPost("/{id:guid}/cancel", Cancel);
        writes.MapPost("/{id:guid}/void", Void);
        writes.MapPost("/{id:guid}/revisions", Correct);
        return group;
    }

    /// <summary>Trips of the company (drivers: their own), newest first, filtered and paged.</summary>
    public static async Task<Ok<PagedList<TripResponse>>> List(
        CurrentUser me, AppDbContext db, IOptions<ApiLimitsOptions> limits, CancellationToken cancellationToken,
        Guid? vehicleId = null, Guid? driverId = null, DateTimeOffset? from = null, DateTimeOffset? to = null,
        QueryEnum<TripCategory>? category = null, QueryEnum<TripState>? state = null, QueryEnum<ReviewState>? review = null, bool? enteredLate = null,
        int page = 1, int pageSize = 50)
    {
        var categoryValue = category?.Value;
        var stateValue = state?.Value;
        var reviewValue = review?.Value;
        if (page < 1 || pageSize < 1 || pageSize > limits.Value.MaxPageSize)
        {
            throw DomainException.Invalid("request.paging-invalid", $"page must be ≥ 1 and pageSize between 1 and {limits.Value.MaxPageSize}.");
        }

        var query = db.Trips.AsQueryable();
        if (!me.SeesWholeCompany)
        {
            query = query.Where(t => t.DriverId == me.Id);
        }

        query = query
            .Where(t => vehicleId == null || t.VehicleId == vehicleId)
            .Where(t => driverId == null || t.DriverId == driverId)
            .Where(t => from == null || t.StartedAt >= from)
            .Where(t => to == null || t.StartedAt < to)
            .Where(t => categoryValue == null || t.Category == categoryValue)
            .Where(t => stateValue == null || t.State == stateValue)
            .Where(t => reviewValue == null || t.Review == reviewValue)
            .Where(t => enteredLate == null || t.EnteredLate == enteredLate);
        var total = await query.CountAsync(cancellationToken);
        var trips = await query.OrderByDescending(t => t.StartedAt).ThenByDescending(t => t.Id)
            .Skip((page - 1) * pageSize).Take(pageSize)
            .Include(t => t.Revisions)
            .AsSplitQuery()
            .ToListAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        var items = trips.Select(t => TripViews.ToResponse(t, names, !me.SeesDetails(t))).ToList();
        return TypedResults.Ok(new PagedList<TripResponse>(items, page, pageSize, total));
    }

    /// <summary>One trip with its full revision history (kilometres only for someone else's private trip).</summary>
    public static async Task<Ok<TripResponse>> Get(Guid id, CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        var trip = await LoadAsync(db, id, cancellationToken);
        return TypedResults.Ok(TripViews.ToResponse(trip, await db.UserNamesAsync(cancellationToken), !me.SeesDetails(trip)));
    }

    /// <summary>Starts a trip. Idempotent by <c>id</c>: sending the same start again returns the trip it created.</summary>
    public static async Task<Results<Created<TripResponse>, Ok<TripResponse>>> Start(
        StartTripRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        var outcome = await log.WriteAheadAsync(write => TripCommands.StartAsync(db, write, me, request, ConflictPolicy.Refuse, cancellationToken), cancellationToken);
        return await CreatedOrOkAsync(db, outcome, cancellationToken);
    }

    /// <summary>Completes an active trip. Repeating the same completion returns the completed trip.</summary>
    public static async Task<Ok<TripResponse>> Complete(
        Guid id, CompleteTripRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        var outcome = await log.WriteAheadAsync(write => TripCommands.CompleteAsync(db, write, me, id, request, ConflictPolicy.Refuse, cancellationToken), cancellationToken);
        return await OkAsync(db, outcome, cancellationToken);
    }

    /// <summary>Enters a trip afterwards; it is marked as entered late and keeps both the driven and the recorded time.</summary>
    public static async Task<Results<Created<TripResponse>, Ok<TripResponse>>> RecordAfterwards(
        RecordTripRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var outcome = await TripCommands.RecordAfterwardsAsync(db, write, me, request, cancellationToken);
        await write.CommitAsync(cancellationToken);
        return await CreatedOrOkAsync(db, outcome, cancellationToken);
    }

    /// <summary>Cancels an active trip with a reason; the trip is kept and the vehicle becomes free.</summary>
    public static async Task<Ok<TripResponse>> Cancel(Guid id, ReasonRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        var outcome = await log.WriteAheadAsync(write => TripCommands.CancelAsync(db, write, me, id, request, ConflictPolicy.Refuse, cancellationToken), cancellationToken);
        return await OkAsync(db, outcome, cancellationToken);
    }

    /// <summary>Voids a wrong completed trip with a reason; it stays visible, marked as void.</summary>
    public static async Task<Ok<TripResponse>> Void(Guid id, ReasonRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var outcome = await TripCommands.VoidAsync(db, write, me, id, request, cancellationToken);
        await write.CommitAsync(cancellationToken);
        return await OkAsync(db, outcome, cancellationToken);
    }

    /// <summary>Corrects the details of a completed trip as a new revision (who, when, why, old and new values).</summary>
    public static async Task<Ok<TripResponse>> Correct(
        Guid id, CorrectTripRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        TripCommands.EnsureNoFrozenFields(request);
        await using var write = await log.BeginAsync(cancellationToken);
        var outcome = await TripCommands.CorrectAsync(db, write, me, id, request, cancellationToken);
        await write.CommitAsync(cancellationToken);
        return await OkAsync(db, outcome, cancellationToken);
    }

    private static Task<Trip> LoadAsync(AppDbContext db, Guid id, CancellationToken cancellationToken) => TripCommands.LoadAsync(db, id, cancellationToken);

    private static async Task<Results<Created<TripResponse>, Ok<TripResponse>>> CreatedOrOkAsync(AppDbContext db, TripOutcome outcome, CancellationToken cancellationToken)
    {
        var response = TripViews.ToResponse(outcome.Trip, outcome.Names ?? await db.UserNamesAsync(TripViews.PeopleOf(outcome.Trip), cancellationToken), restricted: false);
        return outcome.Replayed ? TypedResults.Ok(response) : TypedResults.Created($"/api/trips/{response.Id}", response);
    }

    private static async Task<Ok<TripResponse>> OkAsync(AppDbContext db, TripOutcome outcome, CancellationToken cancellationToken) =>
        TypedResults.Ok(TripViews.ToResponse(outcome.Trip, outcome.Names ?? await db.UserNamesAsync(TripViews.PeopleOf(outcome.Trip), cancellationToken), restricted: false));
}
