using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Sync;

public enum SyncStatus
{
    Applied,
    AlreadyApplied,
    Conflict,
    Rejected,
}

/// <summary>
/// One operation a device sent through <c>POST /api/sync</c>, kept forever with its payload, the
/// device's capture time, the server's receipt time and the answer it got. It makes a replay
/// answer the same way, keeps the second completion of a trip completed twice, and keeps
/// rejected input for the fleet manager, so nothing a client sent is lost.
/// </summary>
public sealed class SyncOperation : ITenantOwned
{
    private SyncOperation()
    {
        Type = "";
    }

    public SyncOperation(
        Guid id, Guid companyId, Guid deviceId, Guid userId, string type, DateTimeOffset capturedAt, DateTimeOffset receivedAt,
        Guid? tripId, Guid? vehicleId, string? payload, SyncStatus status, IReadOnlyList<string> reviewReasons, string? problemCode, string? problemDetail)
    {
        Id = id;
        CompanyId = companyId;
        DeviceId = deviceId;
        UserId = userId;
        Type = type.Length > 50 ? type[..50] : type;
        CapturedAt = Instants.Normalize(capturedAt);
        ReceivedAt = receivedAt;
        TripId = tripId;
        VehicleId = vehicleId;
        Payload = payload;
        Status = status;
        ReviewReasons = reviewReasons.Count == 0 ? null : string.Join(',', reviewReasons);
        ProblemCode = problemCode;
        ProblemDetail = problemDetail;
    }

    /// <summary>The client's operation id (UUIDv7, generated once when the device queued it).</summary>
    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid DeviceId { get; private set; }

    public Guid UserId { get; private set; }

    public string Type { get; private set; }

    /// <summary>When the device captured the operation (device clock).</summary>
    public DateTimeOffset CapturedAt { get; private set; }

    /// <summary>When the server received it.</summary>
    public DateTimeOffset ReceivedAt { get; private set; }

    public Guid? TripId { get; private set; }

    public Guid? VehicleId { get; private set; }

    /// <summary>The payload exactly as sent (JSON).</summary>
    public string? Payload { get; private set; }

    public SyncStatus Status { get; private set; }

    /// <summary>Comma-separated review reasons of the trip when the operation was applied.</summary>
    public string? ReviewReasons { get; private set; }

    public string? ProblemCode { get; private set; }

    public string? ProblemDetail { get; private set; }

    /// <summary>A rejected operation a fleet manager has looked at and closed, with why.</summary>
    public Guid? DismissedBy { get; private set; }

    public DateTimeOffset? DismissedAt { get; private set; }

    public string? DismissReason { get; private set; }

    public IReadOnlyList<string> ReasonList => ReviewReasons is null ? [] : ReviewReasons.Split(',');

    public void Dismiss(Guid by, DateTimeOffset now, string reason)
    {
        if (Status != SyncStatus.Rejected)
        {
            throw DomainException.Conflict("review.not-rejected", "Only a rejected operation can be dismissed.");
        }

        if (DismissedAt is not null)
        {
            throw DomainException.Conflict("review.already-dismissed", "The operation was already dismissed.");
        }

        if (by == UserId)
        {
            throw DomainException.Forbidden("review.own-trip", "Nobody dismisses their own rejected operation; another fleet manager must.");
        }

        DismissedBy = by;
        DismissedAt = now;
        DismissReason = string.IsNullOrWhiteSpace(reason) ? throw DomainException.Invalid("trip.reason-required", "A reason is required.") : reason.Trim();
    }
}

internal sealed class SyncOperationConfiguration : IEntityTypeConfiguration<SyncOperation>
{
    public void Configure(EntityTypeBuilder<SyncOperation> builder)
    {
        builder.Property(o => o.Id).ValueGeneratedNever();
        builder.Property(o => o.Type).HasMaxLength(50);
        builder.Property(o => o.Status).HasConversion<string>().HasMaxLength(20);
        builder.Property(o => o.ReviewReasons).HasMaxLength(500);
        builder.Property(o => o.ProblemCode).HasMaxLength(100);
        builder.Property(o => o.ProblemDetail).HasMaxLength(2000);
        builder.Property(o => o.DismissReason).HasMaxLength(500);
        builder.Ignore(o => o.ReasonList);
        builder.HasIndex(o => new { o.CompanyId, o.Status });
        builder.HasIndex(o => o.TripId);
    }
}
