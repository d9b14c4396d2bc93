using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Logbook;

public enum ChainIssueKind
{
    /// <summary>Kilometres between two trips that no trip accounts for.</summary>
    Gap,

    /// <summary>A trip starts below the previous trip's end reading.</summary>
    Overlap,

    /// <summary>The odometer order contradicts the time order (a reading went backwards in time).</summary>
    Backwards,
}

/// <summary>Something wrong between a trip and the one before it in odometer order. Nothing is re-sequenced: it is reported.</summary>
public sealed record ChainIssue(ChainIssueKind Kind, Trip? Before, Trip After, int FromOdometer, int ToOdometer)
{
    public int Km => Math.Abs(ToOdometer - FromOdometer);

    public string TaskId(Guid vehicleId) => Kind == ChainIssueKind.Gap
        ? string.Create(CultureInfo.InvariantCulture, $"gap-{vehicleId:N}-{FromOdometer}-{ToOdometer}")
        : $"review-{Kind.ToString().ToLowerInvariant()}-{After.Id:N}";

    /// <summary>Who had the car around then: the drivers of the trips on both sides and the driver it is assigned to.</summary>
    public IReadOnlyList<Guid> Drivers(Guid? assignedDriverId) =>
        new[] { Before?.DriverId, After.DriverId, assignedDriverId }.OfType<Guid>().Distinct().ToList();
}

public static class OdometerChain
{
    /// <summary>Trips that make up the odometer chain: completed ones (active trips have no end yet; void and cancelled ones never happened).</summary>
    public static bool Counts(Trip trip) => trip.State == TripState.Completed;

    /// <summary>Orders the counted trips by odometer (then time) and reports every issue, keyed by the trip after it.</summary>
    public static Dictionary<Guid, ChainIssue> Analyze(IEnumerable<Trip> trips, int initialOdometer, int toleranceKm)
    {
        var issues = new Dictionary<Guid, ChainIssue>();
        Trip? previous = null;
        foreach (var trip in trips.Where(Counts).OrderBy(t => t.StartOdometer).ThenBy(t => t.StartedAt).ThenBy(t => t.Id))
        {
            var previousEnd = previous?.EndOdometer ?? initialOdometer;
            if (trip.StartOdometer < previousEnd)
            {
                issues[trip.Id] = new ChainIssue(previous is null ? ChainIssueKind.Backwards : ChainIssueKind.Overlap, previous, trip, previousEnd, trip.StartOdometer);
            }
            else if (previous is not null && trip.StartedAt < previous.StartedAt)
            {
                issues[trip.Id] = new ChainIssue(ChainIssueKind.Backwards, previous, trip, previousEnd, trip.StartOdometer);
            }
            else if (trip.StartOdometer - previousEnd > toleranceKm)
            {
                issues[trip.Id] = new ChainIssue(ChainIssueKind.Gap, previous, trip, previousEnd, trip.StartOdometer);
            }

            if (previous is null || trip.EndOdometer >= previous.EndOdometer)
            {
                previous = trip;
            }
        }

        return issues;
    }
}

public sealed record GapExplanationResponse(string Note, Guid ExplainedBy, string? ExplainedByName, DateTimeOffset ExplainedAt);

public sealed record ChainItem(
    string Kind, TripResponse? Trip, int? FromOdometer, int? ToOdometer, int? Km, Guid? BeforeTripId, Guid? AfterTripId,
    string? TaskId, IReadOnlyList<Guid>? Drivers, GapExplanationResponse? Explanation);

public sealed record TaskResponse(
    string Id, string Kind, Guid VehicleId, string Plate, int FromOdometer, int ToOdometer, int Km, DateTimeOffset? After, DateTimeOffset Before,
    Guid? BeforeTripId, Guid AfterTripId, IReadOnlyList<Guid> Drivers, string Message);

public sealed record ExplainGapRequest([Required, MinLength(1), MaxLength(2000)] string Note);

public sealed record GapExplained(Guid VehicleId, int FromOdometer, int ToOdometer, string Note, Guid ExplainedBy, DateTimeOffset ExplainedAt);

public static class ChainEndpoints
{
    public static RouteGroupBuilder MapOdometerChain(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Logbook").RequireAuthorization();
        group.MapGet("/vehicles/{id:guid}/chain", Chain);
        group.MapGet("/tasks", Tasks);
        group.MapPost("/tasks/{taskId}/explain", Explain).RequireAuthorization(AuthenticationSetup.WriterPolicy).RequireRateLimiting(TripEndpoints.WriteRateLimit);
        return group;
    }

    /// <summary>The vehicle's trips in odometer order with the gaps, overlaps and backward readings between them.</summary>
    public static async Task<Ok<List<ChainItem>>> Chain(
        Guid id, CurrentUser me, AppDbContext db, IOptions<LogbookOptions> options, CancellationToken cancellationToken, DateTimeOffset? from = null, DateTimeOffset? to = null)
    {
        var vehicle = await db.Vehicles.AsNoTracking().SingleOrDefaultAsync(v => v.Id == id, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        var trips = await db.Trips.AsNoTracking().Include(t => t.Revisions).Where(t => t.VehicleId == id).ToListAsync(cancellationToken);
        var issues = OdometerChain.Analyze(trips, vehicle.InitialOdometer, options.Value.GapToleranceKm);
        var explanations = await db.GapExplanations.AsNoTracking().Where(g => g.VehicleId == id).ToListAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        var items = new List<ChainItem>();
        foreach (var trip in trips.Where(OdometerChain.Counts).OrderBy(t => t.StartOdometer).ThenBy(t => t.StartedAt).ThenBy(t => t.Id)
            .Where(t => (from == null || t.StartedAt >= from) && (to == null || t.StartedAt < to)))
        {
            if (issues.TryGetValue(trip.Id, out var issue))
            {
                var explanation = explanations.SingleOrDefault(g => g.FromOdometer == issue.FromOdometer && g.ToOdometer == issue.ToOdometer);
                items.Add(new ChainItem(issue.Kind.ToString().ToLowerInvariant(), null, issue.FromOdometer, issue.ToOdometer, issue.Km, issue.Before?.Id, trip.Id,
                    issue.TaskId(id), issue.Drivers(vehicle.AssignedDriverId),
                    explanation is null ? null : new GapExplanationResponse(explanation.Note, explanation.ExplainedBy, names.GetValueOrDefault(explanation.ExplainedBy), explanation.ExplainedAt)));
            }

            items.Add(new ChainItem("trip", TripViews.ToResponse(trip, names, !me.SeesDetails(trip)), trip.StartOdometer, trip.EndOdometer, trip.DistanceKm, null, trip.Id, null, null, null));
        }

        return TypedResults.Ok(items);
    }

    /// <summary>Open chain tasks: unexplained gaps for the drivers who had the car (all of them for managers), and review items for managers.</summary>
    public static async Task<Ok<List<TaskResponse>>> Tasks(CurrentUser me, AppDbContext db, IOptions<LogbookOptions> options, CancellationToken cancellationToken) =>
        TypedResults.Ok((await OpenTasksAsync(db, options.Value, cancellationToken))
            .Where(t => me.SeesWholeCompany || (t.Kind == "gap" && t.Drivers.Contains(me.Id))).ToList());

    /// <summary>Resolves a gap task by explaining it (the other way is entering the missing trip late). Journaled on the vehicle.</summary>
    public static async Task<Ok<TaskResponse>> Explain(
        string taskId, ExplainGapRequest request, CurrentUser me, AppDbContext db, EventLog log, IOptions<LogbookOptions> options, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var task = (await OpenTasksAsync(db, options.Value, cancellationToken)).SingleOrDefault(t => t.Id == taskId && t.Kind == "gap")
            ?? throw DomainException.NotFound("task");
        if (!me.IsManager && !task.Drivers.Contains(me.Id))
        {
            throw DomainException.Forbidden("task.not-yours", "Only a driver who had the car then, or a fleet manager, may explain this gap.");
        }

        var note = request.Note.Trim();
        db.GapExplanations.Add(new GapExplanation(me.CompanyId, task.VehicleId, task.FromOdometer, task.ToOdometer, note, me.Id, write.Now));
        write.Append(LogbookEvents.GapExplained, new GapExplained(task.VehicleId, task.FromOdometer, task.ToOdometer, note, me.Id, write.Now),
            vehicleId: task.VehicleId, tripId: task.AfterTripId);
        await db.SaveChangesAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(task);
    }

    private static async Task<List<TaskResponse>> OpenTasksAsync(AppDbContext db, LogbookOptions options, CancellationToken cancellationToken)
    {
        var vehicles = await db.Vehicles.AsNoTracking().ToListAsync(cancellationToken);
        var trips = (await db.Trips.AsNoTracking().IgnoreAutoIncludes().Where(t => t.State == TripState.Completed).ToListAsync(cancellationToken)).ToLookup(t => t.VehicleId);
        var explained = (await db.GapExplanations.AsNoTracking().ToListAsync(cancellationToken)).Select(g => (g.VehicleId, g.FromOdometer, g.ToOdometer)).ToHashSet();
        var tasks = new List<TaskResponse>();
        foreach (var vehicle in vehicles)
        {
            foreach (var issue in OdometerChain.Analyze(trips[vehicle.Id], vehicle.InitialOdometer, options.GapToleranceKm).Values.OrderBy(i => i.After.StartOdometer))
            {
                if (issue.Kind == ChainIssueKind.Gap && explained.Contains((vehicle.Id, issue.FromOdometer, issue.ToOdometer)))
                {
                    continue;
                }

                var kind = issue.Kind == ChainIssueKind.Gap ? "gap" : "review";
                var message = issue.Kind switch
                {
                    ChainIssueKind.Gap => $"Nicht erfasste Kilometer / unrecorded kilometres: {issue.Km} km between {issue.FromOdometer} and {issue.ToOdometer} ({vehicle.Plate}) – who drove?",
                    ChainIssueKind.Overlap => $"Kilometerstände überschneiden sich / odometer readings overlap by {issue.Km} km ({vehicle.Plate}).",
                    _ => $"Kilometerstand rückwärts / odometer reading goes backwards ({vehicle.Plate}, {issue.FromOdometer} → {issue.ToOdometer}).",
                };
                tasks.Add(new TaskResponse(issue.TaskId(vehicle.Id), kind, vehicle.Id, vehicle.Plate, issue.FromOdometer, issue.ToOdometer, issue.Km,
                    issue.Before?.EndedAt, issue.After.StartedAt, issue.Before?.Id, issue.After.Id, issue.Drivers(vehicle.AssignedDriverId), message));
            }
        }

        return tasks;
    }
}
