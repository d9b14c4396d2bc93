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

    private static readonly double[] WriteLockBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

    /// <summary>Open live connections (SSE streams, SignalR hub connections), tagged with <c>transport</c>.</summary>
    public static readonly UpDownCounter<long> LiveStreams = Meter.CreateUpDownCounter<long>(
        "fahrtenbuch.live.streams", unit: "{stream}", description: "Open live connections: SSE streams and SignalR hub connections.");

    /// <summary>Committed events this instance handed to its live fan-out (once per event, however many subscribers).</summary>
    public static readonly Counter<long> LiveEventsPublished = Meter.CreateCounter<long>(
        "fahrtenbuch.live.events.published", unit: "{event}", description: "Committed events handed to the live fan-out.");

    /// <summary>Events written to live subscribers (once per event and subscriber, replay included), tagged with <c>transport</c>.</summary>
    public static readonly Counter<long> LiveEventsDelivered = Meter.CreateCounter<long>(
        "fahrtenbuch.live.events.delivered", unit: "{event}", description: "Events written to live subscribers.");

    /// <summary>
    /// Seconds from an event's timestamp (its write) to the moment it is handed to a subscriber's connection, tagged with
    /// <c>transport</c>. Only live deliveries: a replay after a reconnect measures the client's absence, not the fan-out.
    /// </summary>
    public static readonly Histogram<double> LiveDeliveryLag = Meter.CreateHistogram(
        "fahrtenbuch.live.delivery.lag", unit: "s", description: "Time from an event's commit to its delivery to a live subscriber.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    /// <summary>Subscribers disconnected because their bounded queue was full (slow consumers); they resume from the log.</summary>
    public static readonly Counter<long> LiveQueueDrops = Meter.CreateCounter<long>(
        "fahrtenbuch.live.queue.drops", unit: "{subscriber}", description: "Live subscribers disconnected because their queue was full.");

    /// <summary>
    /// Seconds a logged write waited for its company's write lock (SQLite: the one writer of the file; PostgreSQL: the
    /// company's counter row), from asking to holding it. Rising waits on SQLite say the file has reached its write rate.
    /// </summary>
    public static readonly Histogram<double> WriteLockWait = Meter.CreateHistogram(
        "fahrtenbuch.write_lock.wait", unit: "s", description: "Time a logged write waited for its company's write lock.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = WriteLockBuckets });

    /// <summary>Seconds a logged write held the lock, from taking it to its commit or rollback (the serial part of every write).</summary>
    public static readonly Histogram<double> WriteLockHeld = Meter.CreateHistogram(
        "fahrtenbuch.write_lock.held", unit: "s", description: "Time a logged write held its company's write lock.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = WriteLockBuckets });

    /// <summary>
    /// Seconds of CPU the writer holding SQLite's write lock used while it held it, on Linux. Against
    /// <see cref="WriteLockHeld"/> it says what limits the file's write rate: the rest of the hold is waiting, for the
    /// disk's sync at a group's commit or for a core. Not recorded for a turn that ended on another thread than it began.
    /// </summary>
    public static readonly Histogram<double> WriteLockCpu = Meter.CreateHistogram(
        "fahrtenbuch.write_lock.cpu", unit: "s", description: "CPU time a logged SQLite write used while it held the write lock.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = WriteLockBuckets });

    /// <summary>
    /// Logged writes per SQLite commit: writes that queue up behind each other commit together and share the commit's sync
    /// (docs/adr/0009-sqlite-single-writer-group-commit.md). Groups of one under load mean the writers rarely overlap.
    /// </summary>
    public static readonly Histogram<int> WriteGroupSize = Meter.CreateHistogram(
        "fahrtenbuch.write_group.size", unit: "{write}", description: "Logged writes committed together in one SQLite transaction.",
        advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32] });

    /// <summary>
    /// Trip writes run ahead of the SQLite write lock (see <c>EventLog.WriteAheadAsync</c>), tagged with <c>outcome</c>: <c>kept</c>, or
    /// <c>redone</c> under the lock because something they read changed meanwhile. Many redone drafts mean writers contend
    /// for the same vehicles or drivers.
    /// </summary>
    public static readonly Counter<long> WriteDrafts = Meter.CreateCounter<long>(
        "fahrtenbuch.write_drafts", unit: "{write}", description: "Trip writes run ahead of the write lock, by whether the draft was kept.");

    public static readonly KeyValuePair<string, object?> DraftKept = new("outcome", "kept");

    public static readonly KeyValuePair<string, object?> DraftRedone = new("outcome", "redone");

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

    /// <summary>The <c>transport</c> tag of live metrics; the values are those of <c>LiveConnection.Transport</c>.</summary>
    public static KeyValuePair<string, object?> TransportTag(string transport) => new("transport", transport);

    /// <summary>Counts one event written to a subscriber and, when it came live rather than from a replay, its lag.</summary>
    internal static void RecordDelivered(DateTimeOffset occurredAt, bool replayed, TimeProvider time, KeyValuePair<string, object?> transport)
    {
        LiveEventsDelivered.Add(1, transport);

        // Reading the clock only when a listener wants the value keeps an unobserved fan-out as cheap as before.
        if (!replayed && LiveDeliveryLag.Enabled)
        {
            LiveDeliveryLag.Record(Math.Max(0, (time.GetUtcNow() - occurredAt).TotalSeconds), transport);
        }
    }

    /// <summary>Counts events a stream replayed from the log (no lag: the client was away).</summary>
    internal static void RecordReplayed(int count, KeyValuePair<string, object?> transport)
    {
        if (count > 0)
        {
            LiveEventsDelivered.Add(count, transport);
        }
    }

    internal static void RecordWritten(IReadOnlyList<Events.EventRecord> events)
    {
        foreach (var record in events)
        {
            EventsWritten.Add(1, new KeyValuePair<string, object?>("type", record.Type));
        }
    }
}
