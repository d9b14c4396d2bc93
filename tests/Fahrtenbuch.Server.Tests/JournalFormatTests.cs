using Fahrtenbuch.Server.Logbook;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// The journal's canonical text, byte for byte: every stored entry's hash was taken over this text, so the writer may get
/// faster but never write one character differently (the expected texts were written by the first implementation).
/// </summary>
public sealed class JournalFormatTests
{
    private static readonly Guid Company = Guid.Parse("0193a1b2-0000-7000-8000-000000000001");
    private static readonly Guid Driver = Guid.Parse("0193a1b2-0000-7000-8000-0000000000d1");
    private static readonly Guid Actor = Guid.Parse("0193a1b2-0000-7000-8000-0000000000a1");
    private static readonly Guid VehicleId = Guid.Parse("0193a1b2-0000-7000-8000-0000000000c1");
    private static readonly Guid TripId = Guid.Parse("0193a1b2-0000-7000-8000-0000000000f1");
    private static readonly DateTimeOffset Now = new(2026, 3, 9, 18, 5, 7, TimeSpan.FromHours(1));

    private static (Vehicle Vehicle, Trip Trip) Completed()
    {
        var vehicle = new Vehicle(Company, "M FB 1001", "Passat", 48_000, null, Now.AddDays(-30));
        var trip = Trip.RecordAfterwards(
            TripId, vehicle, Driver, Now.AddHours(-3).AddTicks(1234567), 48_210, "München, \"Hof\" <Ost>",
            Now.AddHours(-1), 48_252, new TripDetails(TripCategory.Business, "Straße 5 & Co", "Kundentermin ✓", "Müller GmbH", null), Now);
        return (vehicle, trip);
    }

    [Fact]
    public void Entry_IsTheSameTextAsAlways()
    {
        var (_, trip) = Completed();
        var (canonical, hash) = JournalFormat.Entry(VehicleId, 7, "ab12", "trip.corrected", trip.Id, Actor, Now, 4_711, trip,
            new Dictionary<string, string?> { ["purpose"] = "Alt \"x\"", ["destination"] = null }, "Tippfehler: ä/ö");
        Assert.Equal(Expected, canonical);
        Assert.Equal(ExpectedHash, hash);
        Assert.Equal(ExpectedHash, JournalFormat.Hash(canonical));
    }

    [Fact]
    public void Entry_WithoutActorOldValuesOrNote_IsTheSameTextAsAlways()
    {
        var (_, trip) = Completed();
        var (canonical, _) = JournalFormat.Entry(VehicleId, 1, JournalFormat.Genesis, "trip.recorded", trip.Id, null, Now, 1, trip, null, null);
        Assert.Equal(ExpectedPlain, canonical);
        Assert.Contains("\"trip\":" + JournalFormat.Snapshot(trip) + ",", canonical, StringComparison.Ordinal);
    }

    [Fact]
    public void Time_IsUtcWithSevenFractionalDigits()
    {
        Assert.Equal("2026-03-09T17:05:07.0000000Z", JournalFormat.Time(Now));
        Assert.Equal("0001-01-01T00:00:00.0000001Z", JournalFormat.Time(new DateTimeOffset(1, TimeSpan.Zero).AddTicks(0)));
        Assert.Equal("", JournalFormat.Time(null));
    }

    private const string Expected =
        """
        {"v":1,"vehicleId":"0193a1b2-0000-7000-8000-0000000000c1","seq":7,"prev":"ab12","action":"trip.corrected","tripId":"0193a1b2-0000-7000-8000-0000000000f1","actor":"0193a1b2-0000-7000-8000-0000000000a1","at":"2026-03-09T17:05:07.0000000Z","logPosition":4711,"trip":{"id":"0193a1b2-0000-7000-8000-0000000000f1","driverId":"0193a1b2-0000-7000-8000-0000000000d1","state":"Completed","category":"Business","startedAt":"2026-03-09T14:05:07.1234567Z","endedAt":"2026-03-09T16:05:07.0000000Z","startOdometer":48210,"endOdometer":48252,"startPlace":"M\u00FCnchen, \u0022Hof\u0022 \u003COst\u003E","endPlace":null,"destination":"Stra\u00DFe 5 \u0026 Co","purpose":"Kundentermin \u2713","businessPartner":"M\u00FCller GmbH","enteredLate":true,"recordedAt":"2026-03-09T17:05:07.0000000Z","completedRecordedAt":"2026-03-09T17:05:07.0000000Z","cancelReason":null,"voidReason":null,"closedBy":null,"lockedAt":null,"revisions":0,"annotations":0},"old":{"purpose":"Alt \u0022x\u0022","destination":null},"note":"Tippfehler: \u00E4/\u00F6"}
        """;

    private const string ExpectedHash = "d954c76015268766ae980da96a11431cd1189c4cfe6d187fc667d76a67003b9d";

    private const string ExpectedPlain =
        """
        {"v":1,"vehicleId":"0193a1b2-0000-7000-8000-0000000000c1","seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","action":"trip.recorded","tripId":"0193a1b2-0000-7000-8000-0000000000f1","actor":null,"at":"2026-03-09T17:05:07.0000000Z","logPosition":1,"trip":{"id":"0193a1b2-0000-7000-8000-0000000000f1","driverId":"0193a1b2-0000-7000-8000-0000000000d1","state":"Completed","category":"Business","startedAt":"2026-03-09T14:05:07.1234567Z","endedAt":"2026-03-09T16:05:07.0000000Z","startOdometer":48210,"endOdometer":48252,"startPlace":"M\u00FCnchen, \u0022Hof\u0022 \u003COst\u003E","endPlace":null,"destination":"Stra\u00DFe 5 \u0026 Co","purpose":"Kundentermin \u2713","businessPartner":"M\u00FCller GmbH","enteredLate":true,"recordedAt":"2026-03-09T17:05:07.0000000Z","completedRecordedAt":"2026-03-09T17:05:07.0000000Z","cancelReason":null,"voidReason":null,"closedBy":null,"lockedAt":null,"revisions":0,"annotations":0},"old":null,"note":null}
        """;
}
