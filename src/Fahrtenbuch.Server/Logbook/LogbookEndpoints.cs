using System.ComponentModel.DataAnnotations;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Logbook;

public sealed record JournalEntryResponse(
    long Sequence, string Action, Guid? TripId, Guid? ActorId, string? ActorName, DateTimeOffset At, string PreviousHash, string Hash, string? Canonical, bool Restricted);

public sealed record AnnotateRequest([Required, MinLength(1), MaxLength(2000)] string Text);

public sealed record ClosedPeriodResponse(string Month, Guid ClosedBy, string? ClosedByName, DateTimeOffset ClosedAt, int LockedTrips);

public sealed record BlockingTrip(Guid Id, Guid VehicleId, Guid DriverId, string? DriverName, DateTimeOffset StartedAt, string Why);

/// <summary>What an annotation event carries; <c>note</c> is what the journal records.</summary>
public sealed record AnnotationEvent(Guid TripId, int Number, string Note, Guid CreatedBy, DateTimeOffset CreatedAt);

public static class LogbookEndpoints
{
    public const string CloserPolicy = "PeriodCloser";

    public static IServiceCollection AddLogbook(this IServiceCollection services)
    {
        services.AddOptions<LogbookOptions>().BindConfiguration(LogbookOptions.Section).ValidateDataAnnotations()
            .Validate(o => TimeZoneInfo.TryFindSystemTimeZoneById(o.TimeZone, out _), "Logbook:TimeZone is not a known time zone.").ValidateOnStart();
        services.AddHttpContextAccessor();
        services.AddScoped<ILogAppendHook, JournalHook>();
        services.AddSingleton<JournalStateCache>();
        services.AddScoped<JournalVerifier>();
        services.AddHostedService<ReminderService>();
        services.AddAuthorizationBuilder().AddPolicy(CloserPolicy, p => p.RequireClaim(Claims.Role, nameof(UserRole.FleetManager), nameof(UserRole.Auditor)));
        return services;
    }

    public static RouteGroupBuilder MapLogbook(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Logbook").RequireAuthorization();
        group.MapGet("/vehicles/{id:guid}/journal", Journal);
        group.MapGet("/vehicles/{id:guid}/journal/verify", Verify);
        group.MapGet("/periods", ListPeriods);
        group.MapPost("/periods/{month}/close", Close).RequireAuthorization(CloserPolicy).RequireRateLimiting(TripEndpoints.WriteRateLimit);
        group.MapGet("/reminders", ReminderRules.List);
        group.MapGet("/trips/{id:guid}/annotations", Annotations);
        group.MapPost("/trips/{id:guid}/annotations", Annotate).RequireAuthorization(AuthenticationSetup.WriterPolicy).RequireRateLimiting(TripEndpoints.WriteRateLimit);
        return group;
    }

    /// <summary>The vehicle's journal in order. Entries of trips whose details the caller may not see carry no canonical text.</summary>
    public static async Task<Ok<List<JournalEntryResponse>>> Journal(Guid id, CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        await EnsureVehicleAsync(db, id, cancellationToken);
        if (!me.SeesWholeCompany)
        {
            throw DomainException.Forbidden("journal.forbidden", "Only fleet managers and auditors read the journal; everyone may verify it.");
        }

        var entries = await db.JournalEntries.AsNoTracking().Where(j => j.VehicleId == id).OrderBy(j => j.Sequence).ToListAsync(cancellationToken);
        var trips = await db.Trips.AsNoTracking().IgnoreAutoIncludes().Where(t => t.VehicleId == id).ToDictionaryAsync(t => t.Id, cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        return TypedResults.Ok(entries.Select(e =>
        {
            var restricted = e.TripId is { } tripId && trips.TryGetValue(tripId, out var trip) && !me.SeesDetails(trip);
            return new JournalEntryResponse(e.Sequence, e.Action, e.TripId, e.ActorId, e.ActorId is { } a ? names.GetValueOrDefault(a) : null, e.At,
                e.PreviousHash, e.Hash, restricted ? null : e.Canonical, restricted);
        }).ToList());
    }

    /// <summary>Recomputes the vehicle's journal and reports the first broken link, if any, and the fingerprint of its head.</summary>
    public static async Task<Ok<JournalVerification>> Verify(Guid id, AppDbContext db, JournalVerifier verifier, CancellationToken cancellationToken)
    {
        await EnsureVehicleAsync(db, id, cancellationToken);
        return TypedResults.Ok(await verifier.VerifyAsync(id, cancellationToken));
    }

    public static async Task<Ok<List<ClosedPeriodResponse>>> ListPeriods(AppDbContext db, CancellationToken cancellationToken)
    {
        var names = await db.UserNamesAsync(cancellationToken);
        var periods = await db.ClosedPeriods.AsNoTracking().OrderBy(p => p.Month).ToListAsync(cancellationToken);
        return TypedResults.Ok(periods.Select(p => new ClosedPeriodResponse(p.Month, p.ClosedBy, names.GetValueOrDefault(p.ClosedBy), p.ClosedAt, p.LockedTrips)).ToList());
    }

    /// <summary>
    /// Closes a month: every trip that started in it is locked (one journal entry each). Refused while trips of
    /// the month are active or await review, and when the caller drove in that month (no one closes their own trips).
    /// </summary>
    public static async Task<Results<Ok<ClosedPeriodResponse>, ProblemHttpResult>> Close(
        string month, CurrentUser me, AppDbContext db, EventLog log, IOptions<LogbookOptions> options, CancellationToken cancellationToken)
    {
        if (!Periods.TryParse(month, out var year, out var monthNumber))
        {
            throw new DomainException(400, "period.malformed", "The period must be a month written as yyyy-MM, e.g. 2026-03.");
        }

        var zone = options.Value.Zone;
        var (from, to) = Periods.Bounds(year, monthNumber, zone);
        await using var write = await log.BeginAsync(cancellationToken);
        if (to > write.Now)
        {
            throw DomainException.Invalid("period.not-ended", $"The period {month} has not ended yet.");
        }

        if (await db.ClosedPeriods.AnyAsync(p => p.Month == month, cancellationToken))
        {
            throw DomainException.Conflict("period.already-closed", $"The period {month} is already closed.");
        }

        var trips = await db.Trips.Include(t => t.Revisions).Where(t => t.StartedAt >= from && t.StartedAt < to).ToListAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        if (trips.Any(t => t.DriverId == me.Id && t.State != TripState.Cancelled))
        {
            throw DomainException.Forbidden("period.own-trips", $"You drove trips in {month}; no one closes their own trips. Another fleet manager or the auditor closes this period.");
        }

        var blocking = trips.Where(t => t.State == TripState.Active || t.Review == ReviewState.Pending)
            .Select(t => new BlockingTrip(t.Id, t.VehicleId, t.DriverId, names.GetValueOrDefault(t.DriverId), t.StartedAt,
                t.State == TripState.Active ? "active" : $"review: {string.Join(", ", t.ReviewReasons)}"))
            .ToList();
        if (blocking.Count > 0)
        {
            return TypedResults.Problem(
                statusCode: 409,
                title: ErrorCodes.Title(409),
                detail: $"The period {month} cannot be closed: {blocking.Count} trip(s) are still active or await review. Complete them or resolve the review first.",
                extensions: new Dictionary<string, object?> { ["code"] = "period.open-trips", ["trips"] = blocking });
        }

        foreach (var trip in trips.Where(t => t.State != TripState.Active))
        {
            trip.Lock(me.Id, write.Now);
            write.AppendTrip(LogbookEvents.TripLocked, trip, names);
        }

        var period = new ClosedPeriod(me.CompanyId, month, me.Id, write.Now, trips.Count);
        db.ClosedPeriods.Add(period);
        var response = new ClosedPeriodResponse(month, me.Id, names.GetValueOrDefault(me.Id), write.Now, trips.Count);
        write.Append(LogbookEvents.PeriodClosed, response);
        await db.SaveChangesAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(response);
    }

    public static async Task<Ok<List<AnnotationResponse>>> Annotations(Guid id, CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        var trip = await db.Trips.AsNoTracking().SingleOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw DomainException.NotFound("trip");
        var names = await db.UserNamesAsync(cancellationToken);
        return TypedResults.Ok(me.SeesDetails(trip) ? trip.Annotations.OrderBy(a => a.Number).Select(a => AnnotationResponse.From(a, names)).ToList() : []);
    }

    /// <summary>Adds a later note (Nachtrag) to a trip, locked or not; it changes no recorded field and is journaled.</summary>
    public static async Task<Created<AnnotationResponse>> Annotate(
        Guid id, AnnotateRequest request, CurrentUser me, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var trip = await db.Trips.Include(t => t.Revisions).SingleOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw DomainException.NotFound("trip");
        if (trip.DriverId != me.Id && !me.IsManager)
        {
            throw DomainException.Forbidden("trip.not-your-trip", "Only the trip's driver or a fleet manager may annotate it.");
        }

        var annotation = trip.Annotate(request.Text, me.Id, write.Now);
        db.TripAnnotations.Add(annotation);
        var names = await db.UserNamesAsync(cancellationToken);
        var restricted = new AnnotationEvent(trip.Id, annotation.Number, "", me.Id, write.Now);
        write.Append(LogbookEvents.TripAnnotated, new AnnotationEvent(trip.Id, annotation.Number, annotation.Text, me.Id, write.Now),
            vehicleId: trip.VehicleId, tripId: trip.Id, ownerId: trip.DriverId, restrictedData: restricted, audience: TripViews.AudienceOf(trip));
        await db.SaveChangesAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/trips/{trip.Id}/annotations", AnnotationResponse.From(annotation, names));
    }

    internal static async Task EnsureVehicleAsync(AppDbContext db, Guid id, CancellationToken cancellationToken)
    {
        if (!await db.Vehicles.AnyAsync(v => v.Id == id, cancellationToken))
        {
            throw DomainException.NotFound("vehicle");
        }
    }
}
