using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// The server's own metrics: one <see cref="Meter"/> named <c>Fahrtenbuch</c>, its instruments created here and nowhere else,
/// exported with ASP.NET Core and runtime metrics at <c>/metrics</c> (Prometheus text format).
/// Tags stay low-cardinality (event type, transport), never a company, user or vehicle id.
/// </summary>
public static class Telemetry
{
    public const string MeterName = "Fahrtenbuch";

    public const string MetricsPath = "/metrics";

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Events committed to the log, tagged with <c>type</c>.</summary>
    public static readonly Counter<long> EventsWritten = Meter.CreateCounter<long>(
        "fahrtenbuch.events.written", unit: "{event}", description: "Events committed to the per-company event log.");

    /// <summary>Committed events this instance published to the Redis fan-out.</summary>
    public static readonly Counter<long> RedisPublished = Meter.CreateCounter<long>(
        "fahrtenbuch.live.redis.published", unit: "{event}", description: "Events published to the Redis fan-out channel.");

    /// <summary>Events of other instances received from Redis (own echoes excluded).</summary>
    public static readonly Counter<long> RedisReceived = Meter.CreateCounter<long>(
        "fahrtenbuch.live.redis.received", unit: "{event}", description: "Events of other instances received from the Redis fan-out channel.");

    /// <summary>Events the head check read from the log because their Redis message never arrived (lost on a reconnect or restart).</summary>
    public static readonly Counter<long> LiveGapFills = Meter.CreateCounter<long>(
        "fahrtenbuch.live.gap_fills", unit: "{event}", description: "Events delivered from the database log because the transport lost them.");

    public static IServiceCollection AddTelemetry(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddMeter(MeterName)
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>Serves <c>/metrics</c>; the reverse proxy keeps it off the public internet (docs/deploy.md).</summary>
    public static IEndpointConventionBuilder MapTelemetry(this IEndpointRouteBuilder routes) =>
        routes.MapPrometheusScrapingEndpoint(MetricsPath);

    internal static void RecordWritten(IReadOnlyList<Events.EventRecord> events)
    {
        foreach (var record in events)
        {
            EventsWritten.Add(1, new KeyValuePair<string, object?>("type", record.Type));
        }
    }
}
