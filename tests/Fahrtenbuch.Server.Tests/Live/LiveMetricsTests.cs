using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Live;
using Microsoft.AspNetCore.SignalR.Client;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>
/// The metrics instruments are static, so every server of the test process reports into them; the tests that read their
/// movement run alone, or another class closing its streams meanwhile could cancel out the stream this test opens.
/// </summary>
[CollectionDefinition(nameof(ProcessWideMetrics), DisableParallelization = true)]
public sealed class ProcessWideMetrics;

/// <summary>The live metrics as an operator scrapes them from <c>/metrics</c>.</summary>
[Collection(nameof(ProcessWideMetrics))]
public sealed class LiveMetricsTests(LiveAppFactory app) : IClassFixture<LiveAppFactory>
{
    private const string Sse = "transport=\"sse\"";
    private const string SignalR = "transport=\"signalr\"";

    [Fact]
    public async Task Metrics_CountOpenStreams_PublishedAndDeliveredEvents_AndDeliveryLag_PerTransport()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var scraper = app.RealClient();
        var before = await scraper.GetStringAsync("/metrics", cancellationToken);
        var anna = await app.ApiAsync("anna@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(anna))[0];
        var head = await LiveAppFactory.HeadAsync(anna);
        var token = await app.TokenAsync("chef@demo.local");

        await using var stream = await app.OpenStreamAsync(token);
        await using var hub = app.Hub(token);
        await hub.StartAsync(cancellationToken);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var messages = hub.StreamAsync<LiveMessage>("Events", head.ToString(), vehicle.Id, false, cancel.Token).GetAsyncEnumerator(cancel.Token);
        await PrometheusText.UntilAsync(scraper, now =>
            Moved(before, now, "fahrtenbuch_live_streams", Sse) >= 1 && Moved(before, now, "fahrtenbuch_live_streams", SignalR) >= 1);

        var first = messages.MoveNextAsync().AsTask();
        var started = await anna.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle.Id, startPlace = "Depot" }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var items = await stream.UntilAsync(i => i.EventType == EventTypes.TripStarted);
        Assert.True(await first);

        // The hub may have subscribed after the start was committed (then it came as a replay, which has no lag);
        // now that its stream is running, the completion reaches both transports live.
        var trip = await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(cancellationToken);
        var completed = await anna.PostAsJsonAsync($"/api/trips/{trip.GetProperty("id").GetGuid()}/complete",
            new { endOdometer = vehicle.CurrentOdometer + 5, category = "private", destination = "Baggersee", endPlace = "Zuhause" }, cancellationToken);
        completed.EnsureSuccessStatusCode();
        items.AddRange(await stream.UntilAsync(i => i.EventType == EventTypes.TripCompleted));
        Assert.True(await messages.MoveNextAsync());

        var after = await PrometheusText.UntilAsync(scraper, now =>
            Moved(before, now, "fahrtenbuch_live_events_published_total") >= 1
            && Moved(before, now, "fahrtenbuch_live_events_delivered_total", Sse) >= items.Count(i => i.EventType == EventTypes.TripStarted)
            && Moved(before, now, "fahrtenbuch_live_events_delivered_total", SignalR) >= 1
            && Moved(before, now, "fahrtenbuch_live_delivery_lag_seconds_count", Sse) >= 1
            && Moved(before, now, "fahrtenbuch_live_delivery_lag_seconds_count", SignalR) >= 1);
        Assert.Contains("fahrtenbuch_live_delivery_lag_seconds_bucket{", after, StringComparison.Ordinal);
    }

    private static double Moved(string before, string now, string name, params string[] labels) =>
        PrometheusText.Sum(now, name, labels) - PrometheusText.Sum(before, name, labels);
}
