using System.Net;
using System.Net.Http.Json;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

public sealed class PeriodCloseTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static readonly DateTimeOffset June = new(2025, 6, 10, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ClosedPeriod_LocksItsTrips_RefusesChanges_AndTakesAnnotations()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var chef = await app.LoginAsync("chef@demo.local");
        var auditor = await app.LoginAsync("pruefer@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1001");
        var trip = await RecordAsync(anna, vehicle, June, 48_210, 40);

        var closed = await auditor.PostAsync("/api/periods/2025-06/close", null, Ct);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);
        Assert.Equal(1, (await closed.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Ct)).GetProperty("lockedTrips").GetInt32());

        var before = await app.FingerprintAsync();
        await ProblemAssert.IsProblemAsync(
            await chef.PostAsJsonAsync($"/api/trips/{trip}/revisions", new { reason = "später", purpose = "Anderer Zweck" }, Ct), HttpStatusCode.Conflict, "trip.locked");
        await ProblemAssert.IsProblemAsync(
            await anna.PostAsJsonAsync($"/api/trips/{trip}/void", new { reason = "falsch" }, Ct), HttpStatusCode.Conflict, "trip.locked");
        var late = await anna.PostAsJsonAsync("/api/trips/late", new
        {
            vehicleId = vehicle,
            startedAt = June.AddDays(5),
            endedAt = June.AddDays(5).AddHours(1),
            startOdometer = 48_250,
            endOdometer = 48_260,
            category = "private",
        }, Ct);
        var problem = await ProblemAssert.IsProblemAsync(late, HttpStatusCode.Conflict, "period.closed");
        Assert.Contains("2025-06", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await app.FingerprintAsync());
        await ProblemAssert.IsProblemAsync(await auditor.PostAsync("/api/periods/2025-06/close", null, Ct), HttpStatusCode.Conflict, "period.already-closed");

        var annotated = await anna.PostAsJsonAsync($"/api/trips/{trip}/annotations", new { text = "Nachtrag: Maut 12,40 €" }, Ct);
        Assert.Equal(HttpStatusCode.Created, annotated.StatusCode);
        var shown = await JsonAsync(anna, $"/api/trips/{trip}");
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, shown.GetProperty("lockedAt").ValueKind);
        Assert.Equal("Nachtrag: Maut 12,40 €", shown.GetProperty("annotations")[0].GetProperty("text").GetString());
        Assert.Equal("Kundentermin", shown.GetProperty("purpose").GetString());

        var journal = await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal");
        Assert.Equal(["trip.recorded", "trip.locked", "trip.annotated"], journal.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.True((await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Close_IsRefused_ListingTheTripsStillActive()
    {
        var ben = await app.LoginAsync("ben@demo.local");
        var auditor = await app.LoginAsync("pruefer@demo.local");
        var vehicle = await VehicleAsync(ben, "M FB 1005");
        var started = await ben.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle, startedAt = new DateTimeOffset(2025, 5, 30, 9, 0, 0, TimeSpan.Zero) }, Ct);
        started.EnsureSuccessStatusCode();
        var tripId = (await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Ct)).GetProperty("id").GetGuid();

        var before = await app.FingerprintAsync();
        var problem = await ProblemAssert.IsProblemAsync(await auditor.PostAsync("/api/periods/2025-05/close", null, Ct), HttpStatusCode.Conflict, "period.open-trips");
        Assert.Equal(tripId, problem.GetProperty("trips")[0].GetProperty("id").GetGuid());
        Assert.Equal("active", problem.GetProperty("trips")[0].GetProperty("why").GetString());
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Close_IsRefused_WhenTheCloserDroveInThatPeriod()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var vehicle = await VehicleAsync(chef, "M FB 1002");
        await RecordAsync(chef, vehicle, new DateTimeOffset(2025, 4, 3, 8, 0, 0, TimeSpan.Zero), 112_530, 15);
        var before = await app.FingerprintAsync();
        await ProblemAssert.IsProblemAsync(await chef.PostAsync("/api/periods/2025-04/close", null, Ct), HttpStatusCode.Forbidden, "period.own-trips");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Close_RefusesBadRequests_WithAStableCode()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var auditor = await app.LoginAsync("pruefer@demo.local");
        var before = await app.FingerprintAsync();
        await ProblemAssert.IsProblemAsync(await app.CreateClient().PostAsync("/api/periods/2025-03/close", null, Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        await ProblemAssert.IsProblemAsync(await anna.PostAsync("/api/periods/2025-03/close", null, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(await auditor.PostAsync("/api/periods/2025-13/close", null, Ct), HttpStatusCode.BadRequest, "period.malformed");
        var thisMonth = DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        await ProblemAssert.IsProblemAsync(await auditor.PostAsync($"/api/periods/{thisMonth}/close", null, Ct), HttpStatusCode.UnprocessableEntity, "period.not-ended");
        await ProblemAssert.IsProblemAsync(
            await auditor.PostAsJsonAsync($"/api/trips/{Guid.NewGuid()}/annotations", new { text = "x" }, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(
            await anna.PostAsJsonAsync($"/api/trips/{Guid.NewGuid()}/annotations", new { text = "x" }, Ct), HttpStatusCode.NotFound, "trip.not-found");
        Assert.Equal(before, await app.FingerprintAsync());
    }
}
