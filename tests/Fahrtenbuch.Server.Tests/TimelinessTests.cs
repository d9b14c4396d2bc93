using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Logbook;
using Microsoft.EntityFrameworkCore;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>A server whose completion window is already over and whose reminder service runs every second.</summary>
public sealed class TimelinessApp : AppFactory
{
    protected override Dictionary<string, string?> Settings => new()
    {
        ["Logbook:CompletionWindow"] = "00:00:00",
        ["Logbook:ReminderInterval"] = "00:00:01",
        ["Logbook:ActiveTripReminderAfter"] = "00:30:00",
    };
}

public sealed class TimelinessTests(TimelinessApp app) : IClassFixture<TimelinessApp>
{
    [Fact]
    public async Task Driver_CannotChangeATrip_AfterTheCompletionWindow_ButAFleetManagerCan()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var chef = await app.LoginAsync("chef@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1001");
        var trip = await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-9), 48_210, 25);

        // What the refusals must not change. Not the whole database: the reminder service of this server runs every second and
        // may log a reminder for the trip just recorded at any moment (CI caught it doing so between two fingerprints).
        Task<string> TripsAndTheirEventsAsync() => app.QueryAsync(async db => string.Join(",", [
            await db.Events.IgnoreQueryFilters().CountAsync(e => e.Type != LogbookEvents.TripReminder, Ct),
            await db.Trips.IgnoreQueryFilters().CountAsync(Ct),
            await db.Trips.IgnoreQueryFilters().CountAsync(t => t.State == Trips.TripState.Voided, Ct),
            await db.TripRevisions.IgnoreQueryFilters().CountAsync(Ct),
        ]));

        // The trip as the API shows it, too: a refusal that changed a field in place would add no row.
        async Task<string> StateAsync() => await TripsAndTheirEventsAsync() + (await JsonAsync(chef, $"/api/trips/{trip}")).GetRawText();

        var before = await StateAsync();
        await ProblemAssert.IsProblemAsync(
            await anna.PostAsJsonAsync($"/api/trips/{trip}/revisions", new { reason = "vergessen", purpose = "Messe" }, Ct), HttpStatusCode.Conflict, "trip.completion-window-closed");
        await ProblemAssert.IsProblemAsync(
            await anna.PostAsJsonAsync($"/api/trips/{trip}/void", new { reason = "doppelt" }, Ct), HttpStatusCode.Conflict, "trip.completion-window-closed");
        Assert.Equal(before, await StateAsync());

        var corrected = await chef.PostAsJsonAsync($"/api/trips/{trip}/revisions", new { reason = "Fahrerin meldete Messe", purpose = "Messe" }, Ct);
        Assert.Equal(HttpStatusCode.OK, corrected.StatusCode);
        var shown = await JsonAsync(anna, $"/api/trips/{trip}");
        Assert.True(shown.GetProperty("enteredLate").GetBoolean());
        Assert.True(shown.GetProperty("recordedAt").GetDateTimeOffset() > shown.GetProperty("endedAt").GetDateTimeOffset().AddDays(8));
        Assert.Equal("Kundentermin", shown.GetProperty("revisions")[0].GetProperty("changes")[0].GetProperty("oldValue").GetString());
    }

    [Fact]
    public async Task StillActiveTrip_IsListedAsReminder_AndSentAsLiveEvent()
    {
        var ben = await app.LoginAsync("ben@demo.local");
        var vehicle = await VehicleAsync(ben, "M FB 1005");
        var started = await ben.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle, startedAt = DateTimeOffset.UtcNow.AddHours(-3) }, Ct);
        started.EnsureSuccessStatusCode();
        var tripId = (await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Ct)).GetProperty("id").GetGuid();

        var reminders = await JsonAsync(ben, "/api/reminders");
        Assert.Contains(reminders.EnumerateArray(), r => r.GetProperty("tripId").GetGuid() == tripId && r.GetProperty("kind").GetString() == ReminderKinds.StillActive);
        var clara = await app.LoginAsync("clara@demo.local");
        Assert.DoesNotContain((await JsonAsync(clara, "/api/reminders")).EnumerateArray(), r => r.GetProperty("tripId").GetGuid() == tripId);

        var deadline = DateTime.UtcNow.AddSeconds(15);
        var sent = 0;
        while (sent == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250, Ct);
            sent = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == LogbookEvents.TripReminder && e.TripId == tripId));
        }

        Assert.Equal(1, sent);
        await Task.Delay(1500, Ct);
        Assert.Equal(1, await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == LogbookEvents.TripReminder && e.TripId == tripId)));
    }

    [Fact]
    public async Task AustrianBusinessTrip_WithoutStartPlace_GetsADetailsMissingReminder_AGermanOneDoesNot()
    {
        var austria = await app.LoginAsync("chef@zweite.local");
        var vehicle = await VehicleAsync(austria, "W ZD 201");
        var trip = await RecordAsync(austria, vehicle, DateTimeOffset.UtcNow.AddDays(-1), 31_440, 80, startPlace: null);
        var reminder = (await JsonAsync(austria, "/api/reminders")).EnumerateArray().Single(r => r.GetProperty("tripId").GetGuid() == trip);
        Assert.Equal(ReminderKinds.DetailsMissing, reminder.GetProperty("kind").GetString());
        Assert.Equal("startPlace", reminder.GetProperty("missing")[0].GetString());

        var clara = await app.LoginAsync("clara@demo.local");
        var german = await RecordAsync(clara, await VehicleAsync(clara, "M FB 1004"), DateTimeOffset.UtcNow.AddDays(-1), 9_415, 12, startPlace: null);
        Assert.DoesNotContain((await JsonAsync(clara, "/api/reminders")).EnumerateArray(), r => r.GetProperty("tripId").GetGuid() == german);
    }
}
