using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Vehicles;

public enum VehicleStatus
{
    InService,
    OutOfService,
    Retired,
}

public sealed class Vehicle : ITenantOwned
{
    public const int MaxOdometer = 9_999_999;

    private Vehicle()
    {
        Plate = "";
        Name = "";
    }

    public Vehicle(Guid companyId, string plate, string name, int initialOdometer, Guid? assignedDriverId, DateTimeOffset createdAt)
    {
        Id = Guid.CreateVersion7(createdAt);
        CompanyId = companyId;
        Plate = NormalizePlate(plate);
        Name = name.Trim();
        InitialOdometer = initialOdometer;
        CurrentOdometer = initialOdometer;
        OdometerUpdatedAt = createdAt;
        AssignedDriverId = assignedDriverId;
        CreatedAt = createdAt;
    }

    public Guid Id { get; private set; }

    public Guid CompanyId { get; private set; }

    /// <summary>Registration plate, upper case with single spaces ("M AB 1234").</summary>
    public string Plate { get; private set; }

    public string Name { get; private set; }

    /// <summary>Null for a pool car; the driver it is assigned to otherwise.</summary>
    public Guid? AssignedDriverId { get; private set; }

    public int InitialOdometer { get; private set; }

    /// <summary>The highest reading known for the vehicle (trip ends and recorded readings).</summary>
    public int CurrentOdometer { get; private set; }

    public DateTimeOffset OdometerUpdatedAt { get; private set; }

    public VehicleStatus Status { get; private set; }

    public Guid? ActiveTripId { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public static string NormalizePlate(string plate) =>
        string.Join(' ', plate.Trim().ToUpperInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    public void Update(string? name, Guid? assignedDriverId, bool changeAssignment, VehicleStatus? status)
    {
        if (name is not null)
        {
            Name = name.Trim();
        }

        if (changeAssignment)
        {
            AssignedDriverId = assignedDriverId;
        }

        if (status is { } s && s != Status)
        {
            if (Status == VehicleStatus.Retired)
            {
                throw DomainException.Conflict("vehicle.retired", "A retired vehicle cannot be put back into service.");
            }

            if (s != VehicleStatus.InService && ActiveTripId is not null)
            {
                throw DomainException.Conflict("vehicle.in-use", "The vehicle has an active trip; complete or cancel it first.");
            }

            Status = s;
        }
    }

    public void EnsureCanStartTrip()
    {
        if (Status != VehicleStatus.InService)
        {
            throw DomainException.Conflict(
                Status == VehicleStatus.Retired ? "vehicle.retired" : "vehicle.out-of-service",
                Status == VehicleStatus.Retired ? "The vehicle is retired." : "The vehicle is out of service.");
        }
    }

    public void CheckOut(Guid tripId)
    {
        EnsureCanStartTrip();
        ActiveTripId = tripId;
    }

    public void Release(Guid tripId)
    {
        if (ActiveTripId == tripId)
        {
            ActiveTripId = null;
        }
    }

    /// <summary>Records a reading; the current odometer only ever moves forward, lower readings are flagged elsewhere.</summary>
    public void ObserveOdometer(int reading, DateTimeOffset at)
    {
        if (reading > CurrentOdometer)
        {
            CurrentOdometer = reading;
            OdometerUpdatedAt = at;
        }
    }
}

internal sealed class VehicleConfiguration : IEntityTypeConfiguration<Vehicle>
{
    public void Configure(EntityTypeBuilder<Vehicle> builder)
    {
        builder.Property(v => v.Plate).HasMaxLength(20);
        builder.Property(v => v.Name).HasMaxLength(200);
        builder.Property(v => v.Status).HasConversion<string>().HasMaxLength(20);
        builder.HasIndex(v => new { v.CompanyId, v.Plate }).IsUnique();
        builder.HasOne<Company>().WithMany().HasForeignKey(v => v.CompanyId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<User>().WithMany().HasForeignKey(v => v.AssignedDriverId).OnDelete(DeleteBehavior.Restrict);
    }
}
