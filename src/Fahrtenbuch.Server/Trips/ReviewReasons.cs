namespace Fahrtenbuch.Server.Trips;

/// <summary>Machine-readable reasons why a trip or reading needs a fleet manager's review.</summary>
public static class ReviewReasons
{
    /// <summary>A reading lies below the vehicle's last known odometer.</summary>
    public const string OdometerBackwards = "odometer-backwards";

    /// <summary>The trip's odometer range overlaps another trip of the same vehicle.</summary>
    public const string OdometerOverlap = "odometer-overlap";

    /// <summary>The trip's time span overlaps another trip of the same vehicle.</summary>
    public const string TimeOverlap = "time-overlap";

    /// <summary>The driver was on another trip at the same time.</summary>
    public const string DriverOverlap = "driver-overlap";

    /// <summary>The vehicle was on another active trip when this trip's offline start reached the server.</summary>
    public const string VehicleInUse = "vehicle-in-use";

    /// <summary>The trip was completed on two devices with different values; the second completion is kept with its sync operation.</summary>
    public const string CompletedTwice = "completed-twice";

    /// <summary>A device completed or cancelled the trip offline after it had been closed elsewhere; that operation is kept with the sync operations.</summary>
    public const string ClosedElsewhere = "closed-elsewhere";
}
