using System.Net;
using System.Text;
using System.Text.Json;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;

namespace Fahrtenbuch.Server.Tests;

/// <summary>OpenAPI, health, and the clear answers every kind of bad input gets.</summary>
public sealed class ApiQualityTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/openapi/v1.json", "3.1")]
    [InlineData("/openapi/v1-openapi3.0.json", "3.0")]
    public async Task OpenApiDocument_DescribesTheApi_InTheRequestedVersion(string url, string version)
    {
        var response = await app.CreateClient().GetAsync(url, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.StartsWith(version, document.RootElement.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = document.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/api/auth/login", "/api/me", "/api/users", "/api/vehicles", "/api/vehicles/{id}/odometer", "/api/trips", "/api/trips/late", "/api/trips/{id}/revisions" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{url} lacks {path}");
        }
    }

    [Fact]
    public async Task ApiReference_IsServedAsAnHtmlPage()
    {
        var response = await app.CreateClient().GetAsync("/api/docs", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<title>Fahrtenbuch API</title>", html, StringComparison.Ordinal);
        Assert.Contains("openapi/v1.json", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task HealthEndpoints_ReportHealthy_WithoutSigningIn(string url)
    {
        var response = await app.CreateClient().GetAsync(url, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task UnknownApiRoute_ReturnsNotFoundProblem()
    {
        var chef = await app.As(TestApi.Chef);

        var response = await chef.GetAsync("/api/no-such-thing", Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "route.not-found");
    }

    [Fact]
    public async Task WrongMethod_ReturnsMethodNotAllowedProblem()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.DeleteAsync("/api/vehicles", Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.MethodNotAllowed, "route.method-not-allowed");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task NonJsonBody_ReturnsUnsupportedMediaTypeProblem()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostAsync("/api/vehicles", new StringContent("""{"plate":"M X 1","name":"x","initialOdometer":1}""", Encoding.UTF8, "text/plain"), Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "request.unsupported-media-type");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Logout_AcceptsAPostWithoutABody()
    {
        var client = await app.LoginAsync(TestApi.Ben);

        var response = await client.PostAsync("/api/auth/logout", null, Ct);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await ProblemAssert.IsProblemAsync(await client.GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Theory]
    [InlineData("/api/trips", "{\"vehicleId\": ")]
    [InlineData("/api/trips", "[1,2,3]")]
    [InlineData("/api/vehicles", "{\"plate\":\"M X 1\",\"name\":\"x\",\"initialOdometer\":\"viel\"}")]
    [InlineData("/api/vehicles", "{\"plate\":\"M X 1\",\"name\":\"x\",\"initialOdometer\":1,\"color\":\"rot\"}")]
    [InlineData("/api/trips/late", "{\"vehicleId\":\"0199a000-0000-7000-8000-000000000000\",\"category\":\"holiday\"}")]
    [InlineData("/api/trips/late", "{\"vehicleId\":\"0199a000-0000-7000-8000-000000000000\",\"category\":2}")]
    public async Task MalformedJson_ReturnsBadRequestProblem_AndChangesNothing(string url, string body)
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostRawAsync(url, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.malformed");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task MissingFields_ReturnBadRequestValidationProblem_AndChangeNothing()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var cancel = await chef.PostRawAsync($"/api/trips/{Guid.CreateVersion7()}/cancel", """{"reason":""}""");
        var vehicle = await chef.PostRawAsync("/api/vehicles", """{"name":"","initialOdometer":1}""");

        await ProblemAssert.IsProblemAsync(cancel, HttpStatusCode.BadRequest, "request.invalid");
        var problem = await ProblemAssert.IsProblemAsync(vehicle, HttpStatusCode.BadRequest, "request.invalid");
        var fields = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name.ToLowerInvariant()).ToList();
        Assert.Contains("plate", fields);
        Assert.Contains("name", fields);
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task InvalidQueryParameter_ReturnsBadRequestProblem()
    {
        var chef = await app.As(TestApi.Chef);

        var response = await chef.GetAsync("/api/trips?page=abc", Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.malformed");
    }

    [Fact]
    public async Task OversizedBody_ReturnsRequestTooLarge_AndChangesNothing()
    {
        var chef = await app.As(TestApi.Chef);
        var vehicle = await app.NewVehicleAsync();
        var before = await app.FingerprintAsync();
        var body = JsonSerializer.Serialize(new { vehicleId = vehicle.Id, startPlace = new string('x', 65 * 1024) });

        var response = await chef.PostRawAsync("/api/trips", body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "request.too-large");
        Assert.Equal(64 * 1024, problem.GetProperty("limit").GetInt32());
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task BodyJustUnderTheLimit_IsReadAndValidated()
    {
        var chef = await app.As(TestApi.Chef);
        var vehicle = await app.NewVehicleAsync();
        var before = await app.FingerprintAsync();
        var body = JsonSerializer.Serialize(new { vehicleId = vehicle.Id, startPlace = new string('x', 60 * 1024) });

        var response = await chef.PostRawAsync("/api/trips", body);

        // Under the size limit the request reaches validation, which refuses a 60 KiB place name.
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "request.invalid");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Instants_AreReturnedInUtc_WhateverOffsetTheClientSent()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var startedAt = Instants.Normalize(DateTimeOffset.UtcNow.AddMinutes(-20)).ToOffset(TimeSpan.FromHours(2));

        var response = await driver.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, startedAt, null));

        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        foreach (var field in new[] { "startedAt", "recordedAt" })
        {
            var text = json.GetProperty(field).GetString()!;
            Assert.True(text.EndsWith('Z') || text.EndsWith("+00:00", StringComparison.Ordinal), $"{field} = {text}");
        }

        Assert.Equal(startedAt.UtcDateTime, json.GetProperty("startedAt").GetDateTimeOffset().UtcDateTime);
    }

    [Fact]
    public async Task Problems_CarryATraceIdAndAHumanMessage()
    {
        var response = await app.CreateClient().GetAsync("/api/me", Ct);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("traceId").GetString()));
    }
}
