using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

/// <summary>Instants keep their meaning on every provider, whatever offset a client sends (ticks on SQLite, timestamptz on PostgreSQL).</summary>
public sealed class InstantStorageTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task LateTrip_SentWithALocalOffset_IsStoredAndFilteredAsTheSameInstant()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var chef = await app.LoginAsync("chef@demo.local");
        var vehicles = await chef.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options, cancellationToken);
        var vehicle = vehicles!.First(v => v.Plate == "M FB 1004");
        var startedAt = new DateTimeOffset(2026, 3, 2, 8, 15, 0, TimeSpan.FromHours(2));
        var response = await chef.PostAsJsonAsync("/api/trips/late", new
        {
            vehicleId = vehicle.Id,
            startedAt,
            endedAt = startedAt.AddHours(1),
            startOdometer = vehicle.CurrentOdometer,
            endOdometer = vehicle.CurrentOdometer + 42,
            category = "private",
        }, TestJson.Options, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var trip = (await response.Content.ReadFromJsonAsync<TripResponse>(TestJson.Options, cancellationToken))!;

        var stored = await chef.GetFromJsonAsync<TripResponse>($"/api/trips/{trip.Id}", TestJson.Options, cancellationToken);
        Assert.Equal(startedAt, stored!.StartedAt);
        Assert.Equal(TimeSpan.Zero, stored.StartedAt.Offset);

        // 06:15Z is the start: a window from 06:15Z finds it, one from 06:16Z (08:16+02:00) does not.
        var from = Uri.EscapeDataString("2026-03-02T06:15:00Z");
        var after = Uri.EscapeDataString("2026-03-02T08:16:00+02:00");
        var found = await chef.GetFromJsonAsync<PagedList<TripResponse>>($"/api/trips?vehicleId={vehicle.Id}&from={from}", TestJson.Options, cancellationToken);
        var missed = await chef.GetFromJsonAsync<PagedList<TripResponse>>($"/api/trips?vehicleId={vehicle.Id}&from={after}", TestJson.Options, cancellationToken);
        Assert.Contains(found!.Items, t => t.Id == trip.Id);
        Assert.DoesNotContain(missed!.Items, t => t.Id == trip.Id);
    }
}
