using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>The rules that make the trip data a logbook: timeliness, periods, reminders and gaps.</summary>
public sealed class LogbookOptions
{
    public const string Section = "Logbook";

    /// <summary>How long after a trip's details were recorded its driver may still correct or void it; later only a fleet manager can.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan CompletionWindow { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The time zone that decides which month a trip belongs to and how times are printed in exports.</summary>
    [Required]
    public string TimeZone { get; set; } = "Europe/Berlin";

    /// <summary>How often the reminder service looks for trips that need their driver's attention.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReminderInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>An active trip older than this gets a reminder (the car was probably returned without completing it).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan ActiveTripReminderAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The same reminder for the same trip is sent again at most this often.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan ReminderRepeat { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Odometer differences up to this many km between two trips count as rounding, not as a gap.</summary>
    [Range(0, 100)]
    public int GapToleranceKm { get; set; } = 1;

    /// <summary>How many trips an export reads from the database at a time while it streams.</summary>
    [Range(10, 10_000)]
    public int ExportBatchSize { get; set; } = 500;

    private ZoneByName? _zone;

    /// <summary>The zone named by <see cref="TimeZone"/>; looked up once (the look-up takes a process-wide lock), again only if the name changes.</summary>
    public TimeZoneInfo Zone
    {
        get
        {
            if (_zone is { } cached && cached.Id == TimeZone)
            {
                return cached.Zone;
            }

            var zone = TimeZoneInfo.FindSystemTimeZoneById(TimeZone);
            _zone = new ZoneByName(TimeZone, zone);
            return zone;
        }
    }

    private sealed record ZoneByName(string Id, TimeZoneInfo Zone);
}
