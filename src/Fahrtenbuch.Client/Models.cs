using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fahrtenbuch.Client;

public sealed record TokenSet(string AccessToken, string RefreshToken, DateTimeOffset ExpiresAt);

public sealed record CompanyInfo(Guid Id, string Name, string Country);

public sealed record MeInfo(Guid Id, string Email, string DisplayName, string Role, CompanyInfo Company);

public sealed record VehicleUseInfo(Guid TripId, Guid DriverId, string DriverName, DateTimeOffset Since, int StartOdometer);

public sealed record VehicleInfo(Guid Id, string Plate, string Name, bool IsPoolCar, int CurrentOdometer, string Status, string Availability, VehicleUseInfo? InUse);

public sealed record TripInfo(
    Guid Id,
    Guid VehicleId,
    Guid DriverId,
    string? DriverName,
    string State,
    DateTimeOffset StartedAt,
    int StartOdometer,
    DateTimeOffset? EndedAt,
    int? EndOdometer,
    int? DistanceKm,
    string? Category,
    string? StartPlace,
    string? EndPlace,
    string? Destination,
    string? Purpose,
    string? BusinessPartner,
    bool EnteredLate,
    string Review,
    List<string> ReviewReasons,
    bool Restricted);

public sealed record TripPage(List<TripInfo> Items, int Page, int PageSize, int Total);

/// <summary>The details a driver states when a trip ends (category: business, private or commute).</summary>
public sealed record TripCompletion(
    int EndOdometer,
    string Category,
    DateTimeOffset? EndedAt = null,
    string? Destination = null,
    string? Purpose = null,
    string? BusinessPartner = null,
    string? EndPlace = null);

public sealed record SyncOperation(Guid Id, string Type, DateTimeOffset CapturedAt, Guid? TripId, Guid? VehicleId, JsonElement? Payload);

public sealed record SyncProblem(string Code, string Detail);

public sealed record SyncResult(Guid Id, string Status, Guid? TripId, List<string> ReviewReasons, SyncProblem? Problem, TripInfo? Trip);

public sealed record SyncResponse(List<SyncResult> Results, long Position);

public sealed record SyncOperationInfo(
    Guid Id, Guid DeviceId, Guid UserId, string? UserName, string Type, DateTimeOffset CapturedAt, DateTimeOffset ReceivedAt,
    Guid? TripId, Guid? VehicleId, JsonElement? Payload, string Status, List<string> ReviewReasons, SyncProblem? Problem);

public sealed record ReviewTrip(TripInfo Trip, List<SyncOperationInfo> Operations);

/// <summary>An odometer reading below the vehicle's known odometer, kept as recorded and waiting for a fleet manager.</summary>
public sealed record ReviewReading(
    Guid Id, Guid VehicleId, string? Plate, int Value, DateTimeOffset ReadAt, DateTimeOffset RecordedAt, Guid RecordedBy, string? RecordedByName,
    string? Note, string Flag, Guid? ResolvedBy, DateTimeOffset? ResolvedAt, string? Resolution);

public sealed record ReviewQueue(List<ReviewTrip> Trips, List<SyncOperationInfo> RejectedOperations, List<ReviewReading> Readings);

/// <summary>One event of the live stream: its log position, type (e.g. <c>trip.started</c>) and JSON data.</summary>
public sealed record LiveEvent(string? Id, string Type, JsonElement Data);

/// <summary>The operation types of <c>POST /api/sync</c>.</summary>
public static class OperationTypes
{
    public const string TripStart = "trip.start";
    public const string TripComplete = "trip.complete";
    public const string TripCancel = "trip.cancel";
    public const string TripRecord = "trip.record";
    public const string TripCorrect = "trip.correct";
    public const string TripVoid = "trip.void";
    public const string OdometerRecord = "odometer.record";
}

/// <summary>A refused request: the HTTP status and the server's stable problem code.</summary>
public sealed class FahrtenbuchApiException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;
}

internal static class ClientJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
