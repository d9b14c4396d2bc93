using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Review;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Sync;

/// <summary>One queued operation. <c>payload</c> has the fields of the matching REST request body.</summary>
public sealed record SyncOperationRequest(Guid Id, string? Type, DateTimeOffset CapturedAt, Guid? TripId, Guid? VehicleId, JsonElement? Payload);

public sealed record SyncRequest(Guid DeviceId, List<SyncOperationRequest>? Operations);

public sealed record SyncProblem(string Code, string Detail);

public sealed record SyncResult(Guid Id, SyncStatus Status, Guid? TripId, IReadOnlyList<string> ReviewReasons, SyncProblem? Problem, TripResponse? Trip);

/// <summary>The answer per operation, in request order, and the company's log position after the batch.</summary>
public sealed record SyncResponse(List<SyncResult> Results, long Position);

/// <summary>The form of a rejected operation that drivers other than its sender see on the live stream.</summary>
public sealed record SyncRejectedSummary(Guid Id, string Type);

public static class SyncOperationTypes
{
    public const string TripStart = "trip.start";
    public const string TripComplete = "trip.complete";
    public const string TripCancel = "trip.cancel";
    public const string TripRecord = "trip.record";
    public const string TripCorrect = "trip.correct";
    public const string TripVoid = "trip.void";
    public const string OdometerRecord = "odometer.record";
}

public static class SyncEndpoints
{
    public static IServiceCollection AddSync(this IServiceCollection services)
    {
        services.AddOptions<SyncOptions>().BindConfiguration(SyncOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }

    public static RouteGroupBuilder MapSync(this IEndpointRouteBuilder routes)
    {
        var limits = routes.ServiceProvider.GetRequiredService<IOptions<SyncOptions>>().Value;
        var group = routes.MapGroup("/api/sync").WithTags("Sync")
            .RequireAuthorization(AuthenticationSetup.WriterPolicy)
            .RequireRateLimiting(TripEndpoints.WriteRateLimit);
        group.MapPost("/", Sync).WithMetadata(new RequestSizeLimitAttribute(limits.MaxRequestBodyBytes));
        return group;
    }

    /// <summary>
    /// Applies a device's queued operations in order, each in its own transaction, idempotent by operation id
    /// and by object id. Conflicts with what happened meanwhile are kept and flagged for review; invalid
    /// operations are rejected per operation and kept for the fleet manager.
    /// </summary>
    public static async Task<Ok<SyncResponse>> Sync(
        SyncRequest request, CurrentUser me, AppDbContext db, EventLog log, IOptions<SyncOptions> options, CancellationToken cancellationToken)
    {
        if (request.DeviceId == Guid.Empty)
        {
            throw DomainException.Invalid("sync.device-id-required", "deviceId is required.");
        }

        var operations = request.Operations ?? [];
        var max = options.Value.MaxOperations;
        if (operations.Count > max)
        {
            throw new DomainException(StatusCodes.Status413PayloadTooLarge, "sync.too-many-operations",
                $"The request carries {operations.Count} operations; send at most {max} per request.");
        }

        var ids = operations.Select(o => o.Id).Distinct().ToList();
        var known = await db.SyncOperations.AsNoTracking().Where(o => ids.Contains(o.Id)).ToDictionaryAsync(o => o.Id, cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        var context = new BatchContext(request.DeviceId, me, db, log, names);
        var results = new List<SyncResult>(operations.Count);
        foreach (var operation in operations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            results.Add(known.TryGetValue(operation.Id, out var stored)
                ? await ReplayAsync(context, stored, cancellationToken)
                : await ApplyAsync(context, operation, cancellationToken));
        }

        var position = await db.Companies.Where(c => c.Id == me.CompanyId).Select(c => c.LogHead).SingleAsync(cancellationToken);
        return TypedResults.Ok(new SyncResponse(results, position));
    }

    private sealed record BatchContext(Guid DeviceId, CurrentUser Me, AppDbContext Db, EventLog Log, IReadOnlyDictionary<Guid, string> Names);

    private sealed record Applied(SyncStatus Status, Trip? Trip, IReadOnlyList<string> Reasons);

    private static async Task<SyncResult> ApplyAsync(BatchContext context, SyncOperationRequest operation, CancellationToken cancellationToken)
    {
        if (operation.Id == Guid.Empty)
        {
            // Without an id the operation cannot be stored or acknowledged; the client must fix its queue.
            return new SyncResult(operation.Id, SyncStatus.Rejected, operation.TripId, [], new SyncProblem("sync.operation-id-required", "Every operation needs an id."), null);
        }

        var db = context.Db;
        try
        {
            await using var write = await context.Log.BeginAsync(cancellationToken);

            // Checked again under the company's write lock: a retried request may be running at the same time.
            if (await db.SyncOperations.AsNoTracking().SingleOrDefaultAsync(o => o.Id == operation.Id, cancellationToken) is { } stored)
            {
                return await ReplayAsync(context, stored, cancellationToken);
            }

            if (await db.SyncOperations.IgnoreQueryFilters().AnyAsync(o => o.Id == operation.Id, cancellationToken))
            {
                return new SyncResult(operation.Id, SyncStatus.Rejected, operation.TripId, [], new SyncProblem("sync.operation-id-reused", "This operation id is already taken."), null);
            }

            var applied = await ExecuteAsync(context.Db, write, context.Me, operation, cancellationToken);
            db.SyncOperations.Add(new SyncOperation(
                operation.Id, context.Me.CompanyId, context.DeviceId, context.Me.Id, operation.Type ?? "", operation.CapturedAt, write.Now,
                applied.Trip?.Id ?? operation.TripId, operation.VehicleId, operation.Payload?.GetRawText(), applied.Status, applied.Reasons, null, null));
            await write.CommitAsync(cancellationToken);
            return new SyncResult(operation.Id, applied.Status, applied.Trip?.Id ?? operation.TripId, applied.Reasons, null, Describe(context, applied.Trip));
        }
        catch (Exception e) when (e is DomainException or JsonException)
        {
            // The failed write has cleared what it tracked (LogTransaction.DisposeAsync); the rejection is a write of its own.
            var code = e is DomainException d ? d.Code : ErrorCodes.Malformed;
            var detail = e is JsonException j ? $"The payload does not fit the operation type ({j.Path ?? j.Message})." : e.Message;
            return await RejectAsync(context, operation, code, detail, cancellationToken);
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    private static async Task<SyncResult> RejectAsync(BatchContext context, SyncOperationRequest operation, string code, string detail, CancellationToken cancellationToken)
    {
        await using var write = await context.Log.BeginAsync(cancellationToken);
        var record = new SyncOperation(
            operation.Id, context.Me.CompanyId, context.DeviceId, context.Me.Id, operation.Type ?? "", operation.CapturedAt, write.Now,
            operation.TripId, operation.VehicleId, operation.Payload?.GetRawText(), SyncStatus.Rejected, [], code, detail);
        context.Db.SyncOperations.Add(record);
        write.Append(EventTypes.SyncRejected, ReviewEndpoints.Describe(record, context.Names), tripId: record.TripId, ownerId: record.UserId,
            restrictedData: new SyncRejectedSummary(record.Id, record.Type), audience: EventAudience.Managers);
        await write.CommitAsync(cancellationToken);
        return new SyncResult(operation.Id, SyncStatus.Rejected, operation.TripId, [], new SyncProblem(code, detail), null);
    }

    private static async Task<SyncResult> ReplayAsync(BatchContext context, SyncOperation stored, CancellationToken cancellationToken)
    {
        if (stored.Status == SyncStatus.Rejected)
        {
            return new SyncResult(stored.Id, SyncStatus.Rejected, stored.TripId, [], new SyncProblem(stored.ProblemCode ?? "", stored.ProblemDetail ?? ""), null);
        }

        var trip = stored.TripId is { } tripId
            ? await context.Db.Trips.AsNoTracking().Include(t => t.Revisions).SingleOrDefaultAsync(t => t.Id == tripId, cancellationToken)
            : null;
        return new SyncResult(stored.Id, SyncStatus.AlreadyApplied, stored.TripId, stored.ReasonList, null, Describe(context, trip));
    }

    private static TripResponse? Describe(BatchContext context, Trip? trip) =>
        trip is null ? null : TripViews.ToResponse(trip, context.Names, !context.Me.SeesDetails(trip));

    private static async Task<Applied> ExecuteAsync(AppDbContext db, LogTransaction write, CurrentUser me, SyncOperationRequest op, CancellationToken cancellationToken)
    {
        switch (op.Type)
        {
            case SyncOperationTypes.TripStart:
                {
                    var request = Parse<StartTripRequest>(op.Payload, required: false) ?? new StartTripRequest(null, Guid.Empty, null, null, null);
                    request = request with
                    {
                        Id = Same(RequireTrip(op), request.Id, "tripId"),
                        VehicleId = Same(RequireVehicle(op), request.VehicleId == Guid.Empty ? null : request.VehicleId, "vehicleId"),
                        StartedAt = request.StartedAt ?? op.CapturedAt,
                    };
                    return Describe(await TripCommands.StartAsync(db, write, me, request, ConflictPolicy.Flag, cancellationToken));
                }

            case SyncOperationTypes.TripComplete:
                {
                    var request = Parse<CompleteTripRequest>(op.Payload, required: true)!;
                    request = request with { EndedAt = request.EndedAt ?? op.CapturedAt };
                    return Describe(await TripCommands.CompleteAsync(db, write, me, RequireTrip(op), request, ConflictPolicy.Flag, cancellationToken));
                }

            case SyncOperationTypes.TripCancel:
                return Describe(await TripCommands.CancelAsync(db, write, me, RequireTrip(op), Parse<ReasonRequest>(op.Payload, required: true)!, ConflictPolicy.Flag, cancellationToken));

            case SyncOperationTypes.TripVoid:
                return Describe(await TripCommands.VoidAsync(db, write, me, RequireTrip(op), Parse<ReasonRequest>(op.Payload, required: true)!, cancellationToken));

            case SyncOperationTypes.TripCorrect:
                return Describe(await TripCommands.CorrectAsync(db, write, me, RequireTrip(op), Parse<CorrectTripRequest>(op.Payload, required: true)!, cancellationToken));

            case SyncOperationTypes.TripRecord:
                {
                    var request = Parse<RecordTripRequest>(op.Payload, required: true)!;
                    request = request with
                    {
                        Id = Same(RequireTrip(op), request.Id, "tripId"),
                        VehicleId = Same(RequireVehicle(op), request.VehicleId == Guid.Empty ? null : request.VehicleId, "vehicleId"),
                    };
                    return Describe(await TripCommands.RecordAfterwardsAsync(db, write, me, request, cancellationToken));
                }

            case SyncOperationTypes.OdometerRecord:
                {
                    var request = Parse<RecordOdometerRequest>(op.Payload, required: true)!;
                    request = request with { Id = request.Id ?? op.Id, ReadAt = request.ReadAt ?? op.CapturedAt };
                    var (reading, replayed) = await OdometerCommands.RecordAsync(db, write, me, RequireVehicle(op), request, cancellationToken);
                    var status = replayed ? SyncStatus.AlreadyApplied : reading.Flag is null ? SyncStatus.Applied : SyncStatus.Conflict;
                    return new Applied(status, null, reading.Flag is { } flag ? [flag] : []);
                }

            default:
                throw DomainException.Invalid("sync.unknown-type", $"Unknown operation type '{op.Type}'.");
        }
    }

    private static Applied Describe(TripOutcome outcome)
    {
        var trip = outcome.Trip;
        var pending = trip.Review == ReviewState.Pending;
        var status = outcome.Replayed ? SyncStatus.AlreadyApplied
            : outcome.KeptOnly || pending ? SyncStatus.Conflict
            : SyncStatus.Applied;
        return new Applied(status, trip, pending ? trip.ReviewReasons : []);
    }

    private static Guid RequireTrip(SyncOperationRequest op) =>
        op.TripId is { } id && id != Guid.Empty ? id : throw DomainException.Invalid("sync.trip-id-required", $"A {op.Type} operation needs tripId.");

    private static Guid RequireVehicle(SyncOperationRequest op) =>
        op.VehicleId is { } id && id != Guid.Empty ? id : throw DomainException.Invalid("sync.vehicle-id-required", $"A {op.Type} operation needs vehicleId.");

    private static Guid Same(Guid fromOperation, Guid? fromPayload, string name) =>
        fromPayload is null || fromPayload == fromOperation
            ? fromOperation
            : throw DomainException.Invalid("sync.ids-mismatch", $"The payload's {name} differs from the operation's.");

    private static T? Parse<T>(JsonElement? payload, bool required)
        where T : class
    {
        if (payload is not { ValueKind: JsonValueKind.Object } json)
        {
            return required || payload is { ValueKind: not JsonValueKind.Null } ? throw DomainException.Invalid("sync.payload-required", "The operation needs a payload object.") : null;
        }

        var value = json.Deserialize<T>(ApiJson.Options) ?? throw DomainException.Invalid("sync.payload-required", "The operation needs a payload object.");
        PayloadValidation.Validate(value);
        return value;
    }
}

/// <summary>
/// Applies the data annotations of a REST request record to a payload that arrived inside a sync batch,
/// where the endpoint validation filter does not run.
/// </summary>
internal static class PayloadValidation
{
    public static void Validate(object value)
    {
        var type = value.GetType();
        var constructor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
        foreach (var parameter in constructor.GetParameters())
        {
            var current = type.GetProperty(parameter.Name!, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)?.GetValue(value);
            foreach (var attribute in parameter.GetCustomAttributes<ValidationAttribute>())
            {
                var result = attribute.GetValidationResult(current, new ValidationContext(value) { MemberName = parameter.Name, DisplayName = parameter.Name! });
                if (result != ValidationResult.Success)
                {
                    throw DomainException.Invalid(ErrorCodes.Validation, result?.ErrorMessage ?? $"{parameter.Name} is invalid.");
                }
            }
        }
    }
}
