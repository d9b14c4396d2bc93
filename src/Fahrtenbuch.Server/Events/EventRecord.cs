using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Events;

/// <summary>Who may read an event's full <see cref="EventRecord.Data"/>; everyone else of the company gets <see cref="EventRecord.RestrictedData"/>.</summary>
public enum EventAudience
{
    /// <summary>Everyone in the company sees the full data.</summary>
    Company,

    /// <summary>The owner, fleet managers and auditors see the full data (another driver's business trip).</summary>
    Managers,

    /// <summary>Only the owner sees the full data (a private trip: kilometres only for everyone else).</summary>
    Owner,
}

/// <summary>
/// One entry of a company's event log. <see cref="Position"/> is dense per company and taken from the
/// company's counter row inside the writing transaction, so commit order equals position order.
/// <see cref="Data"/> is the full payload; <see cref="RestrictedData"/>, when present, is what callers
/// who may not see the details get (another driver's trip, anyone else's private trip).
/// </summary>
public sealed class EventRecord : ITenantOwned
{
    private EventRecord()
    {
        Type = "";
        Data = "";
    }

    public EventRecord(Guid companyId, long position, string type, DateTimeOffset occurredAt, string data, string? restrictedData, EventAudience audience, Guid? vehicleId, Guid? tripId, Guid? ownerId)
    {
        CompanyId = companyId;
        Position = position;
        Type = type;
        OccurredAt = occurredAt;
        Data = data;
        RestrictedData = restrictedData;
        Audience = audience;
        VehicleId = vehicleId;
        TripId = tripId;
        OwnerId = ownerId;
    }

    /// <summary>This event at another position and instant: a draft's event taken over by the write that adopts it.</summary>
    internal EventRecord At(long position, DateTimeOffset occurredAt) =>
        new(CompanyId, position, Type, occurredAt, Data, RestrictedData, Audience, VehicleId, TripId, OwnerId);

    public Guid CompanyId { get; private set; }

    public long Position { get; private set; }

    public string Type { get; private set; }

    public DateTimeOffset OccurredAt { get; private set; }

    public string Data { get; private set; }

    public string? RestrictedData { get; private set; }

    public EventAudience Audience { get; private set; }

    public Guid? VehicleId { get; private set; }

    public Guid? TripId { get; private set; }

    /// <summary>The user whose data this is (the trip's driver); they always see <see cref="Data"/>.</summary>
    public Guid? OwnerId { get; private set; }
}

internal sealed class EventRecordConfiguration : IEntityTypeConfiguration<EventRecord>
{
    public void Configure(EntityTypeBuilder<EventRecord> builder)
    {
        builder.ToTable("Events");
        builder.HasKey(e => new { e.CompanyId, e.Position });
        builder.Property(e => e.Type).HasMaxLength(50);
        builder.Property(e => e.Audience).HasConversion<string>().HasMaxLength(20);
        builder.HasIndex(e => e.OccurredAt);
    }
}

public static class EventVisibility
{
    /// <summary>The single rule for who sees full details, used by REST reads and live delivery alike.</summary>
    public static bool SeesFull(EventAudience audience, Guid? ownerId, Guid viewerId, bool viewerSeesWholeCompany) => audience switch
    {
        EventAudience.Company => true,
        EventAudience.Managers => ownerId == viewerId || viewerSeesWholeCompany,
        _ => ownerId == viewerId,
    };
}
