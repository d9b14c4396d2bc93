using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Live;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests.Live;

public class LiveStreamTests(LiveAppFactory app) : IClassFixture<LiveAppFactory>
{
    [Fact]
    public async Task Stream_SendsIdTypeAndJsonData_ForEachCommittedEvent()
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(chef))[0];
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"));
        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);

        // Above whatever the other tests of the class recorded before, in any order (a lower value is flagged, not applied).
        var value = vehicle.CurrentOdometer + 1_000;
        await LiveAppFactory.RecordOdometerAsync(chef, vehicle.Id, value);
        var head = await LiveAppFactory.HeadAsync(chef);
        var items = (await stream.UntilAsync(head)).Where(i => i.EventType != "message").ToList();

        var recorded = items.Single(i => i.EventType == EventTypes.OdometerRecorded && SseClient.Json(i).GetProperty("value").GetInt32() == value);
        Assert.Equal(vehicle.Id, SseClient.Json(recorded).GetProperty("vehicleId").GetGuid());
        var status = items.Single(i => i.EventType == EventTypes.VehicleStatus && SseClient.Position(i) == head);
        Assert.Equal(SseClient.Position(recorded) + 1, SseClient.Position(status));
        Assert.Equal(value, SseClient.Json(status).GetProperty("currentOdometer").GetInt32());
    }

    [Fact]
    public async Task Stream_StartsWithRetryHint_AndSendsCommentHeartbeats_WhenIdle()
    {
        using var client = app.RealClient(await app.TokenAsync("pruefer@demo.local"));
        using var response = await client.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        using var body = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        var text = new StringBuilder();
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (!text.ToString().Contains(": heartbeat\n\n"))
        {
            var read = await body.ReadAsync(buffer, timeout.Token);
            Assert.NotEqual(0, read);
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        Assert.StartsWith("retry: 3000\n", text.ToString());
    }

    [Fact]
    public async Task Resume_ReplaysMissedEventsThenContinuesLive_WithoutGapDuplicateOrReorder_UnderConcurrentWriters()
    {
        var writers = await Task.WhenAll(new[] { "chef@demo.local", "anna@demo.local", "ben@demo.local", "clara@demo.local" }.Select(app.ApiAsync));
        var vehicles = await LiveAppFactory.VehiclesAsync(writers[0]);
        var chefToken = await app.TokenAsync("chef@demo.local");
        var start = await LiveAppFactory.HeadAsync(writers[0]);
        var random = new Random(42);

        var writing = writers.Select((api, w) => Task.Run(async () =>
        {
            for (var i = 0; i < 15; i++)
            {
                await LiveAppFactory.RecordOdometerAsync(api, vehicles[(w + i) % vehicles.Count].Id, 600_000 + (w * 100) + i);
            }
        })).ToList();

        // Subscribers join while the writers run, each resuming from a different point of the log.
        var subscribers = new List<(long From, SseClient Stream)>();
        for (var s = 0; s < 6; s++)
        {
            await Task.Delay(random.Next(10, 60), TestContext.Current.CancellationToken);
            var head = await LiveAppFactory.HeadAsync(writers[0]);
            var from = random.Next((int)Math.Max(3, start - 5), (int)head + 1);
            subscribers.Add((from, await app.OpenStreamAsync(chefToken, from.ToString())));
        }

        await Task.WhenAll(writing);
        var end = await LiveAppFactory.HeadAsync(writers[0]);
        Assert.Equal(start + (4 * 15 * 2), end);
        foreach (var (from, stream) in subscribers)
        {
            await using (stream)
            {
                var positions = (await stream.UntilAsync(end)).Select(SseClient.Position).ToList();
                Assert.Equal(Enumerable.Range((int)from + 1, (int)(end - from)).Select(p => (long)p), positions);
            }
        }
    }

    [Theory]
    [InlineData("999999")]
    [InlineData("not-a-position")]
    [InlineData("-3")]
    public async Task Resume_FromAPositionTheServerCannotServe_GetsResetWithTheCurrentHead(string lastEventId)
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var head = await LiveAppFactory.HeadAsync(chef);
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), lastEventId);
        var reset = await stream.NextAsync();
        Assert.Equal(LiveControl.Reset, reset.EventType);
        Assert.True(SseClient.Position(reset) >= head);
        Assert.Equal("position-unavailable", SseClient.Json(reset).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Resume_FromAPrunedPosition_GetsReset()
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(chef))[1];
        await LiveAppFactory.RecordOdometerAsync(chef, vehicle.Id, 700_000);
        var head = await LiveAppFactory.HeadAsync(chef);

        // What the retention job does to events older than the window: the first positions are gone.
        await app.QueryAsync(db => db.Events.IgnoreQueryFilters().Where(e => e.Position <= 2).ExecuteDeleteAsync(TestContext.Current.CancellationToken));
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), "1");
        var reset = await stream.NextAsync();
        Assert.Equal(LiveControl.Reset, reset.EventType);
        Assert.Equal(head, SseClient.Position(reset));
    }

    [Fact]
    public async Task Events_OfAnotherCompany_NeverReachTheStream()
    {
        var zweite = await app.ApiAsync("chef@zweite.local");
        var demo = await app.ApiAsync("chef@demo.local");
        var zweiteVehicles = (await LiveAppFactory.VehiclesAsync(zweite)).Select(v => v.Id).ToHashSet();
        await using var zweiteStream = await app.OpenStreamAsync(await app.TokenAsync("chef@zweite.local"));
        await using var demoStream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"));

        var demoVehicle = (await LiveAppFactory.VehiclesAsync(demo))[2];
        await LiveAppFactory.RecordOdometerAsync(demo, demoVehicle.Id, 800_000);
        await LiveAppFactory.RecordOdometerAsync(zweite, zweiteVehicles.First(), 800_001);
        var zweiteItems = await zweiteStream.UntilAsync(await LiveAppFactory.HeadAsync(zweite));
        var demoItems = await demoStream.UntilAsync(await LiveAppFactory.HeadAsync(demo));

        Assert.Equal(2, zweiteItems.Count);
        Assert.All(zweiteItems, i => Assert.Contains(SseClient.Json(i).GetProperty(i.EventType == EventTypes.VehicleStatus ? "id" : "vehicleId").GetGuid(), zweiteVehicles));
        Assert.DoesNotContain(demoItems, i => i.Data.Contains("800001"));
    }

    [Fact]
    public async Task PrivateTrip_OfAnotherDriver_ArrivesRestricted_WhileTheDriverSeesEverything()
    {
        var anna = await app.ApiAsync("clara@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(anna))[3];
        await using var own = await app.OpenStreamAsync(await app.TokenAsync("clara@demo.local"), query: "?mine=true");
        await using var other = await app.OpenStreamAsync(await app.TokenAsync("anna@demo.local"), query: $"?vehicleId={vehicle.Id}");
        await using var manager = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), query: $"?vehicleId={vehicle.Id}");

        var started = await anna.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle.Id, startPlace = "Hof" }, TestContext.Current.CancellationToken);
        started.EnsureSuccessStatusCode();
        var trip = await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(TestContext.Current.CancellationToken);
        var completed = await anna.PostAsJsonAsync($"/api/trips/{trip.GetProperty("id").GetGuid()}/complete",
            new { endOdometer = vehicle.CurrentOdometer + 42, category = "private", destination = "Baggersee", endPlace = "Zuhause" }, TestContext.Current.CancellationToken);
        completed.EnsureSuccessStatusCode();

        static System.Text.Json.JsonElement CompletedTrip(List<System.Net.ServerSentEvents.SseItem<string>> items) =>
            SseClient.Json(items.Single(i => i.EventType == EventTypes.TripCompleted));
        static bool IsCompletion(System.Net.ServerSentEvents.SseItem<string> i) => i.EventType == EventTypes.TripCompleted;
        var mine = CompletedTrip(await own.UntilAsync(IsCompletion));
        var theirs = CompletedTrip(await other.UntilAsync(IsCompletion));
        var managers = CompletedTrip(await manager.UntilAsync(IsCompletion));

        Assert.Equal("Baggersee", mine.GetProperty("destination").GetString());
        Assert.False(mine.GetProperty("restricted").GetBoolean());
        foreach (var restricted in new[] { theirs, managers })
        {
            Assert.True(restricted.GetProperty("restricted").GetBoolean());
            // Event payloads leave out what is null (ADR 0011): the restricted form does not name the places at all.
            Assert.False(restricted.TryGetProperty("destination", out _));
            Assert.False(restricted.TryGetProperty("endPlace", out _));
            Assert.Equal(42, restricted.GetProperty("distanceKm").GetInt32());
        }
    }

    [Fact]
    public async Task EventPayloads_LeaveOutWhatIsNull_AndOtherwiseMatchTheRestRead()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var chef = await app.ApiAsync("chef@demo.local");

        // A car of the demo data, given back at the end: the class's other tests count and use the same five.
        var vehicleId = (await LiveAppFactory.VehiclesAsync(chef)).First(v => v.InUse is null).Id;
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), query: $"?vehicleId={vehicleId}");

        var started = await chef.PostAsJsonAsync("/api/trips", new { vehicleId }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var tripId = (await started.Content.ReadFromJsonAsync<JsonElement>(cancellationToken)).GetProperty("id").GetGuid();
        var items = await stream.UntilAsync(i => i.EventType == EventTypes.VehicleStatus);

        var trip = SseClient.Json(items.Single(i => i.EventType == EventTypes.TripStarted));
        var restTrip = await chef.GetFromJsonAsync<JsonElement>($"/api/trips/{tripId}", cancellationToken);
        Assert.Equal(JsonValueKind.Null, restTrip.GetProperty("endedAt").ValueKind);
        Assert.False(trip.TryGetProperty("endedAt", out _));
        AssertSameButForNulls(restTrip, trip, "trip");

        var status = SseClient.Json(items.Single(i => i.EventType == EventTypes.VehicleStatus));
        AssertSameButForNulls(await chef.GetFromJsonAsync<JsonElement>($"/api/vehicles/{vehicleId}", cancellationToken), status, "vehicle");

        var cancelled = await chef.PostAsJsonAsync($"/api/trips/{tripId}/cancel", new { reason = "Test over" }, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
    }

    /// <summary>The REST read names every property; the event has the same ones with the same values, except those that are null.</summary>
    private static void AssertSameButForNulls(JsonElement rest, JsonElement payload, string path)
    {
        Assert.Equal(rest.ValueKind, payload.ValueKind);
        switch (rest.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in rest.EnumerateObject())
                {
                    var present = payload.TryGetProperty(property.Name, out var value);
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        Assert.False(present, $"{path}.{property.Name} is null and should be left out of the event");
                    }
                    else
                    {
                        Assert.True(present, $"{path}.{property.Name} is missing from the event");
                        AssertSameButForNulls(property.Value, value, $"{path}.{property.Name}");
                    }
                }

                Assert.All(payload.EnumerateObject(), p => Assert.True(rest.TryGetProperty(p.Name, out _), $"{path}.{p.Name} is not in the REST read"));
                break;
            case JsonValueKind.Array:
                Assert.Equal(rest.GetArrayLength(), payload.GetArrayLength());
                foreach (var (item, index) in rest.EnumerateArray().Select((item, index) => (item, index)))
                {
                    AssertSameButForNulls(item, payload[index], $"{path}[{index}]");
                }

                break;
            default:
                Assert.Equal(rest.GetRawText(), payload.GetRawText());
                break;
        }
    }

    [Fact]
    public async Task Snapshot_ReturnsTheBoardAndItsPosition_AndTheStreamContinuesFromThere()
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var snapshot = (await chef.GetFromJsonAsync<LiveSnapshot>("/api/live/snapshot", TestJson.Options, TestContext.Current.CancellationToken))!;
        Assert.Equal(5, snapshot.Vehicles.Count);
        var vehicle = snapshot.Vehicles[4];
        await LiveAppFactory.RecordOdometerAsync(chef, vehicle.Id, vehicle.CurrentOdometer + 1);

        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("chef@demo.local"), query: $"?after={snapshot.Position}");
        var items = await stream.UntilAsync(await LiveAppFactory.HeadAsync(chef));
        Assert.Equal(snapshot.Position + 1, SseClient.Position(items[0]));
    }

    [Fact]
    public async Task Stream_WithoutCredentials_Gets401Problem()
    {
        using var client = app.RealClient();
        var response = await client.GetAsync("/api/events", TestContext.Current.CancellationToken);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Theory]
    [InlineData("?vehicleId=not-a-guid")]
    [InlineData("?mine=perhaps")]
    public async Task Stream_WithAMalformedQueryValue_Gets400Problem_AndNoStream(string query)
    {
        // The live endpoints run without the validation filter (nothing there reads a body); binding still refuses bad values.
        using var client = app.RealClient(await app.TokenAsync("chef@demo.local"));
        using var response = await client.GetAsync("/api/events" + query, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.malformed");
        Assert.NotEqual("text/event-stream", response.Content.Headers.ContentType?.MediaType);
    }
}
