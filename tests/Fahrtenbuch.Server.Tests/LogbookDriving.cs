using System.Net.Http.Json;
using System.Text.Json;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

/// <summary>Test helpers that drive trips through the real API.</summary>
public static class LogbookDriving
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<Guid> VehicleAsync(HttpClient client, string plate)
    {
        var vehicles = await client.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options, Ct);
        return vehicles!.Single(v => v.Plate == plate).Id;
    }

    /// <summary>Enters a completed trip afterwards (a late entry) and returns its id.</summary>
    public static async Task<Guid> RecordAsync(
        HttpClient client, Guid vehicleId, DateTimeOffset startedAt, int startOdometer, int km, string category = "business",
        string? purpose = "Kundentermin", string? partner = "Müller GmbH", string? destination = "München, Leopoldstraße 1", Guid? driverId = null, string? startPlace = "Büro")
    {
        var response = await client.PostAsJsonAsync("/api/trips/late", new
        {
            vehicleId,
            driverId,
            startedAt,
            endedAt = startedAt.AddHours(1),
            startOdometer,
            endOdometer = startOdometer + km,
            category,
            startPlace,
            endPlace = destination,
            destination,
            purpose,
            businessPartner = partner,
        }, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> JsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }
}
