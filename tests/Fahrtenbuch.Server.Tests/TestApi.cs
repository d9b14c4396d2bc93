using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

/// <summary>Short HTTP helpers and fresh test data, so each test builds the world it needs without sharing state.</summary>
public static class TestApi
{
    public const string Chef = "chef@demo.local";
    public const string Anna = "anna@demo.local";
    public const string Ben = "ben@demo.local";
    public const string Auditor = "pruefer@demo.local";
    public const string OtherChef = "chef@zweite.local";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object? body) =>
        client.PostAsJsonAsync(url, body, TestJson.Options, Ct);

    public static Task<HttpResponseMessage> PatchJsonAsync(this HttpClient client, string url, object body) =>
        client.PatchAsJsonAsync(url, body, TestJson.Options, Ct);

    /// <summary>Sends raw text as JSON, for bodies a serializer would never produce.</summary>
    public static Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string url, string json) =>
        client.PostAsync(url, new StringContent(json, Encoding.UTF8, "application/json"), Ct);

    public static async Task<T> GetJsonAsync<T>(this HttpClient client, string url) =>
        await (await client.GetAsync(url, Ct)).ReadAsync<T>();

    /// <summary>Reads a successful response; a failure shows the problem body in the assertion message.</summary>
    public static async Task<T> ReadAsync<T>(this HttpResponseMessage response, HttpStatusCode? expected = null)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(
            expected is { } status ? response.StatusCode == status : response.IsSuccessStatusCode,
            $"{(int)response.StatusCode} {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {body}");
        return System.Text.Json.JsonSerializer.Deserialize<T>(body, TestJson.Options)!;
    }

    public static HttpClient WithBearer(this HttpClient client, string accessToken)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    public static async Task<Guid> UserIdAsync(this HttpClient client) => (await client.GetJsonAsync<MeResponse>("/api/me")).Id;

    /// <summary>A vehicle of its own for one test, created by the demo fleet manager.</summary>
    public static async Task<VehicleResponse> NewVehicleAsync(this AppFactory app, int odometer = 10_000, string chef = Chef)
    {
        var manager = await app.As(chef);
        var response = await manager.PostJsonAsync("/api/vehicles", new CreateVehicleRequest(NewPlate(), "Testwagen", odometer, null));
        return await response.ReadAsync<VehicleResponse>(HttpStatusCode.Created);
    }

    public static string NewPlate() => $"T {Guid.NewGuid().ToString("N")[..8].ToUpperInvariant()}";

    /// <summary>Invites a new person into the demo company and accepts the invitation: a user with no history.</summary>
    public static async Task<(HttpClient Client, Guid Id, string Email, TokenResponse Tokens)> NewUserAsync(
        this AppFactory app, UserRole role = UserRole.Driver, string chef = Chef)
    {
        var manager = await app.As(chef);
        var email = $"u{Guid.NewGuid():N}@test.local";
        var invitation = await (await manager.PostJsonAsync("/api/users", new InviteUserRequest(email, $"Test {role}", role)))
            .ReadAsync<InvitationResponse>(HttpStatusCode.Created);
        var tokens = await (await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, DemoPassword)))
            .ReadAsync<TokenResponse>();
        return (app.CreateClient().WithBearer(tokens.AccessToken), invitation.User.Id, email, tokens);
    }

    public static Task<(HttpClient Client, Guid Id, string Email, TokenResponse Tokens)> NewDriverAsync(this AppFactory app) => app.NewUserAsync();

    public const string DemoPassword = Setup.DemoData.Password;

    public static async Task<TripResponse> StartTripAsync(this HttpClient driver, Guid vehicleId, int? startOdometer = null, Guid? id = null, DateTimeOffset? startedAt = null)
    {
        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(id, vehicleId, startOdometer, startedAt, "Depot"));
        return await response.ReadAsync<TripResponse>(HttpStatusCode.Created);
    }

    public static CompleteTripRequest BusinessEnd(int endOdometer, DateTimeOffset? endedAt = null) =>
        new(endOdometer, endedAt, TripCategory.Business, "Kunde Müller, Augsburg", "Wartungstermin", "Müller GmbH", "Augsburg");

    public static async Task<TripResponse> CompleteTripAsync(this HttpClient driver, Guid tripId, CompleteTripRequest request)
    {
        var response = await driver.PostJsonAsync($"/api/trips/{tripId}/complete", request);
        return await response.ReadAsync<TripResponse>(HttpStatusCode.OK);
    }

    /// <summary>A completed business trip on a fresh vehicle, driven by a fresh driver.</summary>
    public static async Task<(TripResponse Trip, HttpClient Driver, Guid VehicleId)> CompletedTripAsync(this AppFactory app, TripCategory category = TripCategory.Business)
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var trip = await driver.StartTripAsync(vehicle.Id);
        var end = category == TripCategory.Business
            ? BusinessEnd(trip.StartOdometer + 42)
            : new CompleteTripRequest(trip.StartOdometer + 42, null, category, "Zuhause", null, null, "Zuhause");
        return (await driver.CompleteTripAsync(trip.Id, end), driver, vehicle.Id);
    }

    public static async Task<TripResponse> GetTripAsync(this HttpClient client, Guid tripId) =>
        await client.GetJsonAsync<TripResponse>($"/api/trips/{tripId}");
}
