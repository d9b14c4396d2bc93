namespace Fahrtenbuch.Server.Events;

/// <summary>The event types of the log; they are the <c>event:</c> names on the live streams.</summary>
public static class EventTypes
{
    public const string TripStarted = "trip.started";
    public const string TripCompleted = "trip.completed";
    public const string TripRecorded = "trip.recorded";
    public const string TripCancelled = "trip.cancelled";
    public const string TripVoided = "trip.voided";
    public const string TripCorrected = "trip.corrected";
    public const string TripNeedsReview = "trip.needs-review";
    public const string TripReviewResolved = "trip.review-resolved";
    public const string SyncRejected = "sync.rejected";
    public const string SyncDismissed = "sync.dismissed";
    public const string VehicleStatus = "vehicle.status";
    public const string VehicleCreated = "vehicle.created";
    public const string VehicleUpdated = "vehicle.updated";
    public const string OdometerRecorded = "odometer.recorded";
    public const string OdometerReviewResolved = "odometer.review-resolved";
    public const string UserInvited = "user.invited";
    public const string UserDisabled = "user.disabled";
    public const string UserEnabled = "user.enabled";
}
