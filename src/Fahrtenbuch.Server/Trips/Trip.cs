using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Logbook;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Trips;

public enum TripState
{
    Active,
    Completed,
    Cancelled,
    Voided,
}

public enum TripCategory
{
    Business,
    Private,
    Commute,
}

public enum ReviewState
{
    None,
    Pending,
    Resolved,
}

/// <summary>What a driver states when a trip ends; the only part of a completed trip a revision may change.</summary>
public sealed record TripDetails(TripCategory Category, string? Destination, string? Purpose, string? BusinessPartner, string? EndPlace);

/// <summary>
/// One journey of one vehicle. Guards the lifecycle Active → Completed, with Cancelled and Voided as
/// kept side paths. Once completed, date, times, odometer readings, vehicle and driver are frozen;
/// the details change only through <see cref="Correct"/>, which keeps the old values in a revision.
/// </summary>
public sealed class Trip : ITenantOwned
{
    public static readonly string[] FrozenFields = ["vehicleId", "driverId", "startedAt", "endedAt", "startOdometer", "endOdometer"];

    private readonly List<TripRevision> _revisions = [];
    private readonly List<TripAnnotation> _annotations = [];
    private string _reviewReasons = "";

    private Trip()
    {
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    public Guid VehicleId { get; private set; }

    public Guid DriverId { get; private set; }

    public TripState State { get; private set; }

    public DateTimeOffset StartedAt { get; private set; }

    public int StartOdometer { get; private set; }

    public string? StartPlace { get; private set; }

    public DateTimeOffset? EndedAt { get; private set; }

    public int? EndOdometer { get; private set; }

    public string? EndPlace { get; private set; }

    public TripCategory? Category { get; private set; }

    public string? Destination { get; private set; }

    public string? Purpose { get; private set; }

    public string? BusinessPartner { get; private set; }

    /// <summary>When the server first received the trip.</summary>
    public DateTimeOffset RecordedAt { get; private set; }

    /// <summary>When the server received the completion (for late entries: equals <see cref="RecordedAt"/>).</summary>
    public DateTimeOffset? CompletedRecordedAt { get; private set; }

    /// <summary>True when the whole trip was entered after it was driven.</summary>
    public bool EnteredLate { get; private set; }

    /// <summary>Kilometres between the vehicle's previous known reading and this trip's start, when positive.</summary>
    public int? GapBeforeKm { get; private set; }

    public string? CancelReason { get; private set; }

    public string? VoidReason { get; private set; }

    public Guid? ClosedBy { get; private set; }

    public DateTimeOffset? ClosedAt { get; private set; }

    public ReviewState Review { get; private set; }

    /// <summary>The fleet manager who resolved the review, when it was resolved, and how.</summary>
    public Guid? ReviewResolvedBy { get; private set; }

    public DateTimeOffset? ReviewResolvedAt { get; private set; }

    public string? ReviewResolution { get; private set; }

    /// <summary>When the trip's month was closed; a locked trip only takes annotations.</summary>
    public DateTimeOffset? LockedAt { get; private set; }

    public Guid? LockedBy { get; private set; }

    public bool IsLocked => LockedAt is not null;

    public IReadOnlyList<string> ReviewReasons =>
        _reviewReasons.Length == 0 ? [] : _reviewReasons.Split(',');

    public IReadOnlyList<TripRevision> Revisions => _revisions;

    /// <summary>Later additions (Nachträge), the only change a locked trip takes.</summary>
    public IReadOnlyList<TripAnnotation> Annotations => _annotations;

    public int? DistanceKm => EndOdometer - StartOdometer;

    public bool IsPrivate => Category == TripCategory.Private;

    public static Trip Start(Guid id, Vehicle vehicle, Guid driverId, int startOdometer, DateTimeOffset startedAt, string? startPlace, DateTimeOffset now)
    {
        vehicle.EnsureCanStartTrip();
        EnsureNotInFuture(startedAt, now);
        var trip = new Trip
        {
            Id = id,
            CompanyId = vehicle.CompanyId,
            VehicleId = vehicle.Id,
            DriverId = driverId,
            State = TripState.Active,
            StartedAt = startedAt,
            StartOdometer = startOdometer,
            StartPlace = startPlace,
            RecordedAt = now,
        };
        vehicle.CheckOut(id);
        return trip;
    }

    /// <summary>A trip entered afterwards: completed at once and marked as late, keeping both the driven and the recorded time.</summary>
    public static Trip RecordAfterwards(
        Guid id, Vehicle vehicle, Guid driverId, DateTimeOffset startedAt, int startOdometer, string? startPlace,
        DateTimeOffset endedAt, int endOdometer, TripDetails details, DateTimeOffset now)
    {
        if (vehicle.Status == VehicleStatus.Retired)
        {
            throw DomainException.Conflict("vehicle.retired", "The vehicle is retired.");
        }

        EnsureNotInFuture(endedAt, now);
        var trip = new Trip
        {
            Id = id,
            CompanyId = vehicle.CompanyId,
            VehicleId = vehicle.Id,
            DriverId = driverId,
            StartedAt = startedAt,
            StartOdometer = startOdometer,
            StartPlace = startPlace,
            RecordedAt = now,
            EnteredLate = true,
        };
        trip.Finish(endOdometer, endedAt, details, now);
        return trip;
    }

    public void Complete(int endOdometer, DateTimeOffset endedAt, TripDetails details, DateTimeOffset now)
    {
        if (State != TripState.Active)
        {
            throw DomainException.Conflict("trip.not-active", $"The trip is {State.ToString().ToLowerInvariant()}; only an active trip can be completed.");
        }

        EnsureNotInFuture(endedAt, now);
        Finish(endOdometer, endedAt, details, now);
    }

    public void Cancel(string reason, Guid by, DateTimeOffset now)
    {
        EnsureNotLocked();
        if (State != TripState.Active)
        {
            throw DomainException.Conflict("trip.not-active", "Only an active trip can be cancelled; a completed trip is voided instead.");
        }

        State = TripState.Cancelled;
        CancelReason = RequireReason(reason);
        ClosedBy = by;
        ClosedAt = now;
    }

    public void Void(string reason, Guid by, DateTimeOffset now)
    {
        EnsureNotLocked();
        if (State != TripState.Completed)
        {
            throw DomainException.Conflict("trip.not-completed", "Only a completed trip can be voided; an active trip is cancelled instead.");
        }

        State = TripState.Voided;
        VoidReason = RequireReason(reason);
        ClosedBy = by;
        ClosedAt = now;
    }

    /// <summary>Changes details of a completed trip, recording who, when, why and the old and new values.</summary>
    public TripRevision Correct(TripCorrection correction, Guid by, DateTimeOffset now)
    {
        EnsureNotLocked();
        if (State != TripState.Completed)
        {
            throw DomainException.Conflict("trip.not-completed", "Only a completed trip can be corrected.");
        }

        var reason = RequireReason(correction.Reason);
        var changes = new List<FieldChange>();
        var category = correction.Category ?? Category!.Value;
        Change(changes, "category", Category?.ToString(), category.ToString(), () => Category = category);
        Change(changes, "destination", Destination, correction.Destination, v => Destination = v);
        Change(changes, "purpose", Purpose, correction.Purpose, v => Purpose = v);
        Change(changes, "businessPartner", BusinessPartner, correction.BusinessPartner, v => BusinessPartner = v);
        Change(changes, "startPlace", StartPlace, correction.StartPlace, v => StartPlace = v);
        Change(changes, "endPlace", EndPlace, correction.EndPlace, v => EndPlace = v);
        if (changes.Count == 0)
        {
            throw DomainException.Invalid("trip.correction-empty", "The correction changes nothing.");
        }

        EnsureBusinessDetails(new TripDetails(Category!.Value, Destination, Purpose, BusinessPartner, EndPlace));
        var revision = new TripRevision(Id, _revisions.Count + 1, by, now, reason, changes);
        _revisions.Add(revision);
        return revision;
    }

    public void FlagForReview(string reason)
    {
        Review = ReviewState.Pending;
        if (!ReviewReasons.Contains(reason))
        {
            _reviewReasons = _reviewReasons.Length == 0 ? reason : $"{_reviewReasons},{reason}";
        }
    }

    /// <summary>Closes a pending review; the reasons stay as the record of what was found. Nobody resolves their own trip.</summary>
    public void ResolveReview(Guid by, DateTimeOffset now, string resolution)
    {
        if (Review != ReviewState.Pending)
        {
            throw DomainException.Conflict("review.not-pending", "The trip is not waiting for review.");
        }

        if (by == DriverId)
        {
            throw DomainException.Forbidden("review.own-trip", "Nobody resolves the review of their own trip; another fleet manager must.");
        }

        Review = ReviewState.Resolved;
        ReviewResolvedBy = by;
        ReviewResolvedAt = now;
        ReviewResolution = resolution;
    }

    /// <summary>Locks the trip when its period is closed; from then on it takes annotations only.</summary>
    public void Lock(Guid by, DateTimeOffset now)
    {
        if (State == TripState.Active)
        {
            throw DomainException.Conflict("trip.active", "An active trip cannot be locked.");
        }

        LockedAt ??= now;
        LockedBy ??= by;
    }

    /// <summary>Adds a later note (Nachtrag); it never changes a recorded field.</summary>
    public TripAnnotation Annotate(string text, Guid by, DateTimeOffset now)
    {
        var annotation = new TripAnnotation(Id, CompanyId, _annotations.Count + 1, RequireReason(text), by, now);
        _annotations.Add(annotation);
        return annotation;
    }

    /// <summary>The odometer distance between the previous known reading and this trip's start, when it skipped kilometres.</summary>
    public void ReportGap(int km) => GapBeforeKm = km > 0 ? km : null;

    private void Finish(int endOdometer, DateTimeOffset endedAt, TripDetails details, DateTimeOffset now)
    {
        if (endOdometer < StartOdometer)
        {
            throw DomainException.Invalid("trip.odometer-below-start", $"The end odometer ({endOdometer}) is below the start odometer ({StartOdometer}).");
        }

        if (endedAt < StartedAt)
        {
            throw DomainException.Invalid("trip.ends-before-start", "The trip cannot end before it started.");
        }

        EnsureBusinessDetails(details);
        State = TripState.Completed;
        EndOdometer = endOdometer;
        EndedAt = endedAt;
        Category = details.Category;
        Destination = details.Destination;
        Purpose = details.Purpose;
        BusinessPartner = details.BusinessPartner;
        EndPlace = details.EndPlace;
        CompletedRecordedAt = now;
    }

    private void EnsureNotLocked()
    {
        if (IsLocked)
        {
            throw DomainException.Conflict("trip.locked", "The trip's period is closed; it can no longer be changed. Add an annotation (Nachtrag) instead.");
        }
    }

    private static void EnsureBusinessDetails(TripDetails details)
    {
        if (details.Category != TripCategory.Business)
        {
            return;
        }

        var missing = new List<string>();
        if (string.IsNullOrWhiteSpace(details.Destination))
        {
            missing.Add("destination");
        }

        if (string.IsNullOrWhiteSpace(details.Purpose))
        {
            missing.Add("purpose");
        }

        if (string.IsNullOrWhiteSpace(details.BusinessPartner))
        {
            missing.Add("businessPartner");
        }

        if (missing.Count > 0)
        {
            throw DomainException.Invalid("trip.business-details-required", $"A business trip needs destination, purpose and business partner; missing: {string.Join(", ", missing)}.");
        }
    }

    private static void EnsureNotInFuture(DateTimeOffset at, DateTimeOffset now)
    {
        // Phones' clocks drift; a few minutes ahead is tolerated, a trip in the future is not.
        if (at > now.AddMinutes(5))
        {
            throw DomainException.Invalid("trip.in-future", "A trip time lies in the future.");
        }
    }

    private static string RequireReason(string? reason) =>
        string.IsNullOrWhiteSpace(reason)
            ? throw DomainException.Invalid("trip.reason-required", "A reason is required.")
            : reason.Trim();

    private static void Change(List<FieldChange> changes, string field, string? oldValue, string? newValue, Action<string?> apply)
    {
        if (newValue is null || newValue == oldValue)
        {
            return;
        }

        changes.Add(new FieldChange { Field = field, OldValue = oldValue, NewValue = newValue });
        apply(newValue);
    }

    private static void Change(List<FieldChange> changes, string field, string? oldValue, string newValue, Action apply)
    {
        if (newValue != oldValue)
        {
            changes.Add(new FieldChange { Field = field, OldValue = oldValue, NewValue = newValue });
            apply();
        }
    }
}

/// <summary>The details a revision may change; null leaves a field as it is.</summary>
public sealed record TripCorrection(string Reason, TripCategory? Category, string? Destination, string? Purpose, string? BusinessPartner, string? StartPlace, string? EndPlace);

public sealed class TripRevision
{
    private TripRevision()
    {
        Reason = "";
        Changes = [];
    }

    public TripRevision(Guid tripId, int number, Guid changedBy, DateTimeOffset changedAt, string reason, List<FieldChange> changes)
    {
        Id = Guid.CreateVersion7(changedAt);
        TripId = tripId;
        Number = number;
        ChangedBy = changedBy;
        ChangedAt = changedAt;
        Reason = reason;
        Changes = changes;
    }

    public Guid Id { get; private set; }

    public Guid TripId { get; private set; }

    public int Number { get; private set; }

    public Guid ChangedBy { get; private set; }

    public DateTimeOffset ChangedAt { get; private set; }

    public string Reason { get; private set; }

    public List<FieldChange> Changes { get; private set; }
}

public sealed class FieldChange
{
    public required string Field { get; init; }

    public string? OldValue { get; init; }

    public string? NewValue { get; init; }
}

internal sealed class TripConfiguration : IEntityTypeConfiguration<Trip>
{
    public void Configure(EntityTypeBuilder<Trip> builder)
    {
        builder.Property(t => t.State).HasConversion<string>().HasMaxLength(20);
        builder.Property(t => t.Category).HasConversion<string>().HasMaxLength(20);
        builder.Property(t => t.Review).HasConversion<string>().HasMaxLength(20);
        builder.Property(t => t.ReviewResolution).HasMaxLength(600);
        builder.Property<string>("_reviewReasons").HasColumnName("ReviewReasons").HasMaxLength(500);
        builder.Ignore(t => t.ReviewReasons);
        builder.Ignore(t => t.DistanceKm);
        builder.Ignore(t => t.IsPrivate);
        foreach (var text in new[] { nameof(Trip.StartPlace), nameof(Trip.EndPlace), nameof(Trip.Destination), nameof(Trip.Purpose), nameof(Trip.BusinessPartner), nameof(Trip.CancelReason), nameof(Trip.VoidReason) })
        {
            builder.Property(text).HasMaxLength(500);
        }

        // At most one active trip per vehicle and per driver, enforced by the database as the last line of defence.
        // A trip under review is exempt: an offline start synced onto a car someone else started meanwhile is kept, flagged (docs/sync.md).
        builder.HasIndex(t => t.VehicleId).HasFilter("\"State\" = 'Active' AND \"Review\" = 'None'").IsUnique().HasDatabaseName("IX_Trips_OneActivePerVehicle");
        builder.HasIndex(t => t.DriverId).HasFilter("\"State\" = 'Active' AND \"Review\" = 'None'").IsUnique().HasDatabaseName("IX_Trips_OneActivePerDriver");
        builder.HasIndex(t => new { t.CompanyId, t.VehicleId, t.StartedAt });
        builder.HasIndex(t => new { t.CompanyId, t.DriverId, t.StartedAt });

        // Every trip write asks who is on a car or out with a driver now, and every completion which completed trips it
        // overlaps. Without these the database walks all trips of the vehicle, driver or company, a cost that grows with the
        // logbook; partial indexes keep each one to the trips that can match (an active trip is in none of the last three).
        // StartedAt lets the look-up for another active trip on a car take the newest one from this index: without it, SQLite
        // served that ORDER BY from the (CompanyId, VehicleId, StartedAt) index above and walked the car's whole history
        // (a third of a completion's time under the write lock after 20,000 trips, docs/benchmarks.md).
        builder.HasIndex(t => new { t.CompanyId, t.VehicleId, t.StartedAt }, "IX_Trips_ActiveByVehicle").HasFilter("\"State\" = 'Active'");
        builder.HasIndex(t => new { t.CompanyId, t.DriverId }).HasFilter("\"State\" = 'Active'").HasDatabaseName("IX_Trips_ActiveByDriver");
        builder.HasIndex(t => new { t.CompanyId, t.VehicleId, t.EndOdometer }).HasFilter("\"State\" = 'Completed'").HasDatabaseName("IX_Trips_CompletedByVehicleEndOdometer");
        builder.HasIndex(t => new { t.CompanyId, t.VehicleId, t.EndedAt }).HasFilter("\"State\" = 'Completed'").HasDatabaseName("IX_Trips_CompletedByVehicleEnd");
        builder.HasIndex(t => new { t.CompanyId, t.DriverId, t.EndedAt }).HasFilter("\"State\" = 'Completed'").HasDatabaseName("IX_Trips_CompletedByDriverEnd");
        builder.HasOne<Vehicle>().WithMany().HasForeignKey(t => t.VehicleId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<User>().WithMany().HasForeignKey(t => t.DriverId).OnDelete(DeleteBehavior.Restrict);
        builder.HasMany(t => t.Revisions).WithOne().HasForeignKey(r => r.TripId).OnDelete(DeleteBehavior.Restrict);
        builder.Navigation(t => t.Revisions).HasField("_revisions").UsePropertyAccessMode(PropertyAccessMode.Field);
    }
}

internal sealed class TripRevisionConfiguration : IEntityTypeConfiguration<TripRevision>
{
    public void Configure(EntityTypeBuilder<TripRevision> builder)
    {
        builder.Property(r => r.Reason).HasMaxLength(500);
        builder.HasIndex(r => new { r.TripId, r.Number }).IsUnique();
        builder.OwnsMany(r => r.Changes, c => c.ToJson());
    }
}
