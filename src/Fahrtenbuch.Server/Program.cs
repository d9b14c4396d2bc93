using System.Threading.RateLimiting;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Live;
using Fahrtenbuch.Server.Review;
using Fahrtenbuch.Server.Logbook;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Sync;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Fahrtenbuch.Server.Web;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
var services = builder.Services;

services.AddSingleton(TimeProvider.System);
services.AddOptions<ApiLimitsOptions>().BindConfiguration(ApiLimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
services.AddProblemDetails(o => o.CustomizeProblemDetails = ErrorCodes.AddDefaults);
services.AddExceptionHandler<ProblemExceptionHandler>();
services.AddValidation();
services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
services.AddReverseProxy();
services.AddDatabase(builder.Configuration);
services.AddTelemetry();
services.AddAccounts();
services.AddScoped<EventLog>();
services.AddSingleton<SqliteWriteGate>();
services.AddLive();
services.AddLogbook();
services.AddRedisFanOut(builder.Configuration);
services.AddSingleton<SetupToken>();
services.AddSync();
services.AddRateLimiter(o =>
{
    o.OnRejected = async (context, cancellationToken) =>
    {
        if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry))
        {
            context.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retry.TotalSeconds)).ToString();
        }

        await AuthenticationSetup.WriteProblemAsync(context.HttpContext, 429, ErrorCodes.RateLimited, "Too many requests; slow down and retry later.");
    };
    o.AddPolicy(AuthEndpoints.LoginRateLimit, context =>
    {
        var limits = context.RequestServices.GetRequiredService<IOptions<ApiLimitsOptions>>().Value;
        // The client's address as UseForwardedHeaders set it from a trusted proxy's X-Forwarded-For, else the direct peer's.
        return RateLimitPartition.GetFixedWindowLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "local", _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = limits.LoginPerMinute,
            Window = TimeSpan.FromMinutes(1),
        });
    });
    o.AddPolicy(TripEndpoints.WriteRateLimit, context =>
    {
        var limits = context.RequestServices.GetRequiredService<IOptions<ApiLimitsOptions>>().Value;
        return RateLimitPartition.GetTokenBucketLimiter(context.User.FindFirst(Claims.UserId)?.Value ?? "anonymous", _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.WriteBurst,
            TokensPerPeriod = limits.WritesPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        });
    });
});
services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
{
    document.Info.Title = "Fahrtenbuch API";
    document.Info.Description = "Electronic vehicle logbook: accounts, vehicles, trips and the event log.";
    return Task.CompletedTask;
}));
services.AddOpenApi("v1-openapi3.0", o =>
{
    o.OpenApiVersion = Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_0;
    o.ShouldInclude = _ => true;
});

var app = builder.Build();

// First, so everything after it (rate limits, logs, the scheme of generated links) sees the client, not the proxy.
app.UseForwardedHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseWebApp();
app.UseMiddleware<RequestBodyLimitMiddleware>();
app.UseAuthentication();
app.UseCompanyScope();
app.UseAuthorization();
app.UseRateLimiter();

app.MapOpenApi();
app.MapScalarApiReference("/api/docs", o => o.WithTitle("Fahrtenbuch API").WithOpenApiRoutePattern("/openapi/v1.json"));
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
app.MapHealthChecks("/health", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
app.MapTelemetry();

app.MapSetup();
app.MapAuth();
app.MapUsers();
app.MapVehicles();
app.MapTrips();
app.MapLive();
app.MapSync();
app.MapReview();
app.MapLogbook();
app.MapOdometerChain();
app.MapLogbookExports();
app.MapTaxReport();

// No catch-all MapFallback for /api: it would swallow the router's 405 and 415 answers (and a body-less POST to an
// endpoint with an optional body). Unknown routes get their 404 problem (code route.not-found) from UseStatusCodePages.

if (args is ["migrate", ..])
{
    await app.MigrateDatabaseAsync();
    return;
}

await app.PrepareDatabaseAsync();
await app.RunAsync();

/// <summary>Entry point, visible to the integration tests' WebApplicationFactory.</summary>
public partial class Program;
