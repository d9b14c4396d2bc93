using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>Small helpers to build sync batches and read their answers as JSON, as a web client would.</summary>
public static class SyncApi
{
    public static JsonObject Op(string type, Guid? tripId = null, Guid? vehicleId = null, object? payload = null, DateTimeOffset? capturedAt = null, Guid? id = null) => new()
    {
        ["id"] = (id ?? Guid.CreateVersion7()).ToString(),
        ["type"] = type,
        ["capturedAt"] = (capturedAt ?? DateTimeOffset.UtcNow).ToString("O"),
        ["tripId"] = tripId?.ToString(),
        ["vehicleId"] = vehicleId?.ToString(),
        ["payload"] = payload is null ? null : JsonSerializer.SerializeToNode(payload, TestJson.Options),
    };

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, Guid deviceId, params JsonObject[] operations)
    {
        var body = new JsonObject
        {
            ["deviceId"] = deviceId.ToString(),
            ["operations"] = new JsonArray(operations.Select(o => (JsonNode)o.DeepClone()).ToArray()),
        };
        return await client.PostAsJsonAsync("/api/sync", body, TestContext.Current.CancellationToken);
    }

    public static async Task<JsonElement> SyncAsync(HttpClient client, Guid deviceId, params JsonObject[] operations)
    {
        var response = await PostAsync(client, deviceId, operations);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"sync failed: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    public static JsonElement Result(this JsonElement response, int index) => response.GetProperty("results")[index];

    public static string Status(this JsonElement result) => result.GetProperty("status").GetString()!;

    public static List<string> Reasons(this JsonElement element) =>
        element.GetProperty("reviewReasons").EnumerateArray().Select(r => r.GetString()!).ToList();

    public static async Task<JsonElement> GetJsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"GET {url} failed: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    public static async Task<Guid> VehicleIdAsync(HttpClient client, string plate)
    {
        var vehicles = await GetJsonAsync(client, "/api/vehicles");
        return vehicles.EnumerateArray().Where(v => v.GetProperty("plate").GetString() == plate).Select(v => v.GetProperty("id").GetGuid()).Single();
    }

    public static async Task<int> OdometerAsync(HttpClient client, Guid vehicleId) =>
        (await GetJsonAsync(client, $"/api/vehicles/{vehicleId}")).GetProperty("currentOdometer").GetInt32();

    public static object Completion(int endOdometer, string category = "private", DateTimeOffset? endedAt = null) =>
        new { endOdometer, category, endedAt, destination = (string?)null, purpose = (string?)null, businessPartner = (string?)null, endPlace = (string?)null };
}
