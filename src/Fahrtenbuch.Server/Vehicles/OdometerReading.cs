using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Vehicles;

/// <summary>A reading of a vehicle's odometer uploaded by a driver, kept forever in the vehicle's history.</summary>
public sealed class OdometerReading : ITenantOwned
{
    private OdometerReading()
    {
    }

    public OdometerReading(Guid id, Guid companyId, Guid vehicleId, int value, DateTimeOffset readAt, DateTimeOffset recordedAt, Guid recordedBy, string? note)
    {
        Id = id;
        CompanyId = companyId;
        VehicleId = vehicleId;
        Value = value;
        ReadAt = readAt;
        RecordedAt = recordedAt;
        RecordedBy = recordedBy;
        Note = note;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid VehicleId { get; private set; }

    public int Value { get; private set; }

    /// <summary>When the driver read the odometer (device time).</summary>
    public DateTimeOffset ReadAt { get; private set; }

    /// <summary>When the server received the reading.</summary>
    public DateTimeOffset RecordedAt { get; private set; }

    public Guid RecordedBy { get; private set; }

    public string? Note { get; private set; }

    /// <summary>Why the reading needs review (e.g. <c>odometer-backwards</c>), or null.</summary>
    public string? Flag { get; private set; }

    public Guid? ReviewResolvedBy { get; private set; }

    public DateTimeOffset? ReviewResolvedAt { get; private set; }

    /// <summary>The reviewer's note, or <c>accepted</c>; the flag stays as the record of what was found.</summary>
    public string? ReviewResolution { get; private set; }

    public bool AwaitsReview => Flag is not null && ReviewResolvedAt is null;

    public void FlagForReview(string reason) => Flag = reason;

    /// <summary>Accepts a flagged reading as recorded. Readings are never changed: a wrong one is explained here, not edited.</summary>
    public void ResolveReview(Guid by, DateTimeOffset now, string? note)
    {
        if (!AwaitsReview)
        {
            throw DomainException.Conflict("review.not-pending", "The reading is not waiting for review.");
        }

        if (by == RecordedBy)
        {
            throw DomainException.Forbidden("review.own-reading", "Nobody resolves the review of their own reading; another fleet manager must.");
        }

        ReviewResolvedBy = by;
        ReviewResolvedAt = now;
        ReviewResolution = string.IsNullOrWhiteSpace(note) ? "accepted" : note.Trim();
    }
}

internal sealed class OdometerReadingConfiguration : IEntityTypeConfiguration<OdometerReading>
{
    public void Configure(EntityTypeBuilder<OdometerReading> builder)
    {
        builder.Property(r => r.Note).HasMaxLength(500);
        builder.Property(r => r.Flag).HasMaxLength(50);
        builder.Property(r => r.ReviewResolution).HasMaxLength(600);
        builder.HasIndex(r => new { r.VehicleId, r.ReadAt });
        builder.HasOne<Vehicle>().WithMany().HasForeignKey(r => r.VehicleId).OnDelete(DeleteBehavior.Restrict);
    }
}
