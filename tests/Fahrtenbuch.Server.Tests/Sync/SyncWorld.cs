using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>Fresh drivers and vehicles per test, so tests of one class share a server but never each other's data.</summary>
public static class SyncWorld
{
    public static async Task<(HttpClient Client, Guid Id)> NewDriverAsync(this AppFactory app, string role = "driver")
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var email = $"d{Guid.NewGuid():N}@sync.test";
        var invite = await chef.PostAsJsonAsync("/api/users", new { email, displayName = "Driver " + email[..6], role }, TestContext.Current.CancellationToken);
        invite.EnsureSuccessStatusCode();
        var invitation = JsonDocument.Parse(await invite.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        var accept = await app.CreateClient().PostAsJsonAsync("/api/auth/accept-invitation",
            new { email, code = invitation.GetProperty("invitationCode").GetString(), password = "Sync-Test-Password-1" }, TestContext.Current.CancellationToken);
        accept.EnsureSuccessStatusCode();
        var tokens = JsonDocument.Parse(await accept.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.GetProperty("accessToken").GetString());
        return (client, invitation.GetProperty("user").GetProperty("id").GetGuid());
    }

    public static async Task<Guid> NewVehicleAsync(this AppFactory app, int odometer = 10_000)
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var plate = $"T {Random.Shared.Next(1000, 9999)} {Random.Shared.Next(100, 999)}";
        var response = await chef.PostAsJsonAsync("/api/vehicles", new { plate, name = "Testwagen", initialOdometer = odometer }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("id").GetGuid();
    }
}
