using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>
/// One link of a vehicle's tamper-evident journal. <see cref="Canonical"/> is the exact text that was
/// hashed (it names the previous hash), so anyone can recompute <see cref="Hash"/> with plain SHA-256.
/// </summary>
public sealed class JournalEntry : ITenantOwned
{
    private JournalEntry()
    {
        Action = "";
        PreviousHash = "";
        Hash = "";
        Canonical = "";
    }

    public JournalEntry(Guid companyId, Guid vehicleId, long sequence, Guid? tripId, string action, Guid? actorId, DateTimeOffset at, string previousHash, string canonical, string hash)
    {
        Id = Guid.CreateVersion7(at);
        CompanyId = companyId;
        VehicleId = vehicleId;
        Sequence = sequence;
        TripId = tripId;
        Action = action;
        ActorId = actorId;
        At = at;
        PreviousHash = previousHash;
        Canonical = canonical;
        Hash = hash;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid VehicleId { get; private set; }

    /// <summary>Dense per vehicle, starting at 1.</summary>
    public long Sequence { get; private set; }

    public Guid? TripId { get; private set; }

    public string Action { get; private set; }

    public Guid? ActorId { get; private set; }

    public DateTimeOffset At { get; private set; }

    public string PreviousHash { get; private set; }

    public string Canonical { get; private set; }

    public string Hash { get; private set; }
}

/// <summary>A later addition to a trip (Nachtrag): it never changes a recorded field and stays visible as such.</summary>
public sealed class TripAnnotation
{
    private TripAnnotation()
    {
        Text = "";
    }

    public TripAnnotation(Guid tripId, Guid companyId, int number, string text, Guid createdBy, DateTimeOffset createdAt)
    {
        Id = Guid.CreateVersion7(createdAt);
        TripId = tripId;
        CompanyId = companyId;
        Number = number;
        Text = text;
        CreatedBy = createdBy;
        CreatedAt = createdAt;
    }

    public Guid Id { get; private set; }

    public Guid TripId { get; private set; }

    public Guid CompanyId { get; private set; }

    public int Number { get; private set; }

    public string Text { get; private set; }

    public Guid CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }
}

public sealed record AnnotationResponse(int Number, string Text, Guid CreatedBy, string? CreatedByName, DateTimeOffset CreatedAt)
{
    public static AnnotationResponse From(TripAnnotation a, IReadOnlyDictionary<Guid, string> names) =>
        new(a.Number, a.Text, a.CreatedBy, names.GetValueOrDefault(a.CreatedBy), a.CreatedAt);
}

/// <summary>A closed month of a company: its trips are locked.</summary>
public sealed class ClosedPeriod : ITenantOwned
{
    private ClosedPeriod()
    {
        Month = "";
    }

    public ClosedPeriod(Guid companyId, string month, Guid closedBy, DateTimeOffset closedAt, int lockedTrips)
    {
        Id = Guid.CreateVersion7(closedAt);
        CompanyId = companyId;
        Month = month;
        ClosedBy = closedBy;
        ClosedAt = closedAt;
        LockedTrips = lockedTrips;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    /// <summary>The month as <c>yyyy-MM</c>.</summary>
    public string Month { get; private set; }

    public Guid ClosedBy { get; private set; }

    public DateTimeOffset ClosedAt { get; private set; }

    public int LockedTrips { get; private set; }
}

/// <summary>Why kilometres between two trips went unrecorded, as a driver or fleet manager explained it.</summary>
public sealed class GapExplanation : ITenantOwned
{
    private GapExplanation()
    {
        Note = "";
    }

    public GapExplanation(Guid companyId, Guid vehicleId, int fromOdometer, int toOdometer, string note, Guid by, DateTimeOffset at)
    {
        Id = Guid.CreateVersion7(at);
        CompanyId = companyId;
        VehicleId = vehicleId;
        FromOdometer = fromOdometer;
        ToOdometer = toOdometer;
        Note = note;
        ExplainedBy = by;
        ExplainedAt = at;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid VehicleId { get; private set; }

    public int FromOdometer { get; private set; }

    public int ToOdometer { get; private set; }

    public string Note { get; private set; }

    public Guid ExplainedBy { get; private set; }

    public DateTimeOffset ExplainedAt { get; private set; }
}

/// <summary>Remembers which reminder went out for which trip, so the reminder service does not repeat itself every run.</summary>
public sealed class ReminderSent : ITenantOwned
{
    private ReminderSent()
    {
        Kind = "";
    }

    public ReminderSent(Guid companyId, Guid tripId, string kind, DateTimeOffset sentAt)
    {
        Id = Guid.CreateVersion7(sentAt);
        CompanyId = companyId;
        TripId = tripId;
        Kind = kind;
        SentAt = sentAt;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid TripId { get; private set; }

    public string Kind { get; private set; }

    public DateTimeOffset SentAt { get; private set; }

    public void Resend(DateTimeOffset at) => SentAt = at;
}

internal sealed class JournalEntryConfiguration : IEntityTypeConfiguration<JournalEntry>
{
    public void Configure(EntityTypeBuilder<JournalEntry> builder)
    {
        builder.ToTable("JournalEntries");
        builder.Property(e => e.Action).HasMaxLength(50);
        builder.Property(e => e.PreviousHash).HasMaxLength(64);
        builder.Property(e => e.Hash).HasMaxLength(64);
        builder.HasIndex(e => new { e.VehicleId, e.Sequence }).IsUnique();
        builder.HasIndex(e => e.TripId);
        builder.HasOne<Vehicle>().WithMany().HasForeignKey(e => e.VehicleId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class TripAnnotationConfiguration : IEntityTypeConfiguration<TripAnnotation>
{
    public void Configure(EntityTypeBuilder<TripAnnotation> builder)
    {
        builder.Property(a => a.Text).HasMaxLength(2000);
        builder.HasIndex(a => new { a.TripId, a.Number }).IsUnique();
        builder.HasOne<User>().WithMany().HasForeignKey(a => a.CreatedBy).OnDelete(DeleteBehavior.Restrict);
    }
}

/// <summary>The logbook's part of the trip mapping, kept here so the Trips feature stays unaware of it.</summary>
internal sealed class LogbookTripConfiguration : IEntityTypeConfiguration<Trip>
{
    public void Configure(EntityTypeBuilder<Trip> builder)
    {
        builder.Ignore(t => t.IsLocked);
        builder.HasMany(t => t.Annotations).WithOne().HasForeignKey(a => a.TripId).OnDelete(DeleteBehavior.Restrict);
        builder.Navigation(t => t.Annotations).HasField("_annotations").UsePropertyAccessMode(PropertyAccessMode.Field).AutoInclude();
    }
}

internal sealed class ClosedPeriodConfiguration : IEntityTypeConfiguration<ClosedPeriod>
{
    public void Configure(EntityTypeBuilder<ClosedPeriod> builder)
    {
        builder.Property(p => p.Month).HasMaxLength(7);
        builder.HasIndex(p => new { p.CompanyId, p.Month }).IsUnique();
        builder.HasOne<Company>().WithMany().HasForeignKey(p => p.CompanyId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class GapExplanationConfiguration : IEntityTypeConfiguration<GapExplanation>
{
    public void Configure(EntityTypeBuilder<GapExplanation> builder)
    {
        builder.Property(g => g.Note).HasMaxLength(2000);
        builder.HasIndex(g => new { g.VehicleId, g.FromOdometer, g.ToOdometer }).IsUnique();
        builder.HasOne<Vehicle>().WithMany().HasForeignKey(g => g.VehicleId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class ReminderSentConfiguration : IEntityTypeConfiguration<ReminderSent>
{
    public void Configure(EntityTypeBuilder<ReminderSent> builder)
    {
        builder.ToTable("RemindersSent");
        builder.Property(r => r.Kind).HasMaxLength(50);
        builder.HasIndex(r => new { r.TripId, r.Kind }).IsUnique();
    }
}
