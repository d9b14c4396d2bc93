using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>A reading below the vehicle's odometer is kept and flagged; a fleet manager who did not record it resolves the flag.</summary>
public sealed class OdometerReviewTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static async Task<JsonElement> BackwardsReadingAsync(HttpClient by, Guid vehicle, int value)
    {
        var response = await by.PostAsJsonAsync($"/api/vehicles/{vehicle}/odometer", new { value, note = "abgelesen" }, Ct);
        var reading = await response.ReadAsync<JsonElement>(HttpStatusCode.Created);
        Assert.Equal("odometer-backwards", reading.GetProperty("flag").GetString());
        return reading;
    }

    private static List<JsonElement> QueuedReadings(JsonElement queue) => [.. queue.GetProperty("readings").EnumerateArray()];

    [Fact]
    public async Task BackwardsReading_IsQueuedForReview_UntilAFleetManagerAcceptsItWithANote()
    {
        var (anna, _, _, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(40_000);
        var reading = await BackwardsReadingAsync(anna, car.Id, 39_000);
        var id = reading.GetProperty("id").GetGuid();
        var chef = await app.As(TestApi.Chef);

        var queued = Assert.Single(QueuedReadings(await JsonAsync(chef, "/api/review")), r => r.GetProperty("id").GetGuid() == id);
        Assert.Equal((car.Plate, 39_000, "odometer-backwards"), (queued.GetProperty("plate").GetString(), queued.GetProperty("value").GetInt32(), queued.GetProperty("flag").GetString()));
        Assert.Equal(JsonValueKind.Null, queued.GetProperty("resolvedAt").ValueKind);

        var eventsBefore = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == "odometer.review-resolved", Ct));
        var accepted = await (await chef.PostAsJsonAsync($"/api/review/readings/{id}/accept", new { note = "Tacho nach Werkstatt getauscht" }, Ct)).ReadAsync<JsonElement>();
        Assert.Equal("Tacho nach Werkstatt getauscht", accepted.GetProperty("resolution").GetString());
        Assert.Equal(await chef.UserIdAsync(), accepted.GetProperty("resolvedBy").GetGuid());
        Assert.Equal("odometer-backwards", accepted.GetProperty("flag").GetString());

        Assert.DoesNotContain(QueuedReadings(await JsonAsync(chef, "/api/review")), r => r.GetProperty("id").GetGuid() == id);
        Assert.Equal(eventsBefore + 1, await app.QueryAsync(db => db.Events.IgnoreQueryFilters().CountAsync(e => e.Type == "odometer.review-resolved", Ct)));
        var history = await JsonAsync(chef, $"/api/vehicles/{car.Id}/odometer");
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("id").GetGuid() == id && e.GetProperty("value").GetInt32() == 39_000);

        await ProblemAssert.IsProblemAsync(await chef.PostAsJsonAsync($"/api/review/readings/{id}/accept", new { note = (string?)null }, Ct), HttpStatusCode.Conflict, "review.not-pending");
    }

    [Fact]
    public async Task AcceptReading_RefusesBadRequests_WithAStableCode()
    {
        var (anna, _, _, _) = await app.NewDriverAsync();
        var car = await app.NewVehicleAsync(60_000);
        var id = (await BackwardsReadingAsync(anna, car.Id, 59_000)).GetProperty("id").GetGuid();
        var chef = await app.As(TestApi.Chef);
        var url = $"/api/review/readings/{id}/accept";

        await ProblemAssert.IsProblemAsync(await anna.PostAsJsonAsync(url, new { note = "passt" }, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(await (await app.As(TestApi.Auditor)).PostAsJsonAsync(url, new { note = "passt" }, Ct), HttpStatusCode.Forbidden, "auth.forbidden");
        await ProblemAssert.IsProblemAsync(await (await app.As(TestApi.OtherChef)).PostAsJsonAsync(url, new { note = "passt" }, Ct), HttpStatusCode.NotFound, "reading.not-found");
        await ProblemAssert.IsProblemAsync(await chef.PostAsJsonAsync($"/api/review/readings/{Guid.NewGuid()}/accept", new { }, Ct), HttpStatusCode.NotFound, "reading.not-found");
        await ProblemAssert.IsProblemAsync(await chef.PostAsJsonAsync(url, new { note = new string('x', 501) }, Ct), HttpStatusCode.BadRequest, "request.invalid");

        var fine = await (await anna.PostAsJsonAsync($"/api/vehicles/{car.Id}/odometer", new { value = 61_000 }, Ct)).ReadAsync<JsonElement>(HttpStatusCode.Created);
        await ProblemAssert.IsProblemAsync(await chef.PostAsJsonAsync($"/api/review/readings/{fine.GetProperty("id").GetGuid()}/accept", new { }, Ct), HttpStatusCode.Conflict, "review.not-pending");

        var own = await BackwardsReadingAsync(chef, car.Id, 60_500);
        await ProblemAssert.IsProblemAsync(await chef.PostAsJsonAsync($"/api/review/readings/{own.GetProperty("id").GetGuid()}/accept", new { }, Ct), HttpStatusCode.Forbidden, "review.own-reading");

        // Nothing above changed the reading: it still waits for review.
        Assert.Contains(QueuedReadings(await JsonAsync(chef, "/api/review")), r => r.GetProperty("id").GetGuid() == id);
    }
}
