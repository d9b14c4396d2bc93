using System.Data;
using System.Net.ServerSentEvents;
using System.Reflection;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>The board as it is at <see cref="Position"/>: load it, then stream events after that position.</summary>
public sealed record LiveSnapshot(long Position, DateTimeOffset At, List<VehicleResponse> Vehicles, List<TripResponse> ActiveTrips);

/// <summary>Payload of the <c>reset</c> event: the position could not be served; reload the snapshot.</summary>
public sealed record ResetNotice(string Reason, long Position);

/// <summary>Payload of the <c>shutdown</c> event: the server is stopping; reconnect after the given delay.</summary>
public sealed record ShutdownNotice(string Reason, int RetryAfterMilliseconds);

public static class LiveEndpoints
{
    public const string LastEventIdHeader = "Last-Event-ID";

    public static RouteGroupBuilder MapLive(this IEndpointRouteBuilder routes)
    {
        // Nothing here reads a request body: the caller comes from the checked token and the rest are plain query values.
        // Without this the minimal API validation filter wrapped the stream to validate the caller's record, about 9 % of
        // a reconnect storm's server CPU (docs/benchmarks.md).
        var group = routes.MapGroup("/api").WithTags("Live").RequireAuthorization().DisableValidation();
        group.MapGet("/events", Stream);
        group.MapGet("/live/snapshot", Snapshot);
        routes.MapHub<LiveHub>(LiveHub.Path);
        return group;
    }

    /// <summary>
    /// The company's events as <c>text/event-stream</c>, filtered by the caller's role. Resume with the
    /// <c>Last-Event-ID</c> header (or <c>after</c> for a first connect from a snapshot position).
    /// </summary>
    public static async Task<LiveEventStream> Stream(
        HttpContext http, CurrentUser me, LiveConnections connections, LiveEventStore store, CancellationToken cancellationToken, Guid? vehicleId = null, bool mine = false, string? after = null)
    {
        var header = http.Request.Headers[LastEventIdHeader];

        // "From now on" means from before the response starts, so a write made after the client saw the headers is never missed.
        var lastEventId = header.Count > 0 ? header.ToString()
            : after ?? (await store.BoundsAsync(me.CompanyId, after: null, cancellationToken)).Head.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var connection = connections.Open(me, LiveTransports.Sse);
        return new LiveEventStream(connection, LiveViewer.From(me), new LiveFilter(vehicleId, mine), lastEventId);
    }

    /// <summary>Vehicles with status and odometer, the active trips (restricted per viewer), and the log position they reflect.</summary>
    public static async Task<Ok<LiveSnapshot>> Snapshot(CurrentUser me, AppDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        // One transaction, so the position and the state agree (a snapshot on PostgreSQL, the write lock on SQLite).
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.Serializable, cancellationToken);
        var company = await db.Companies.Where(c => c.Id == me.CompanyId).Select(c => new { c.LogHead }).SingleAsync(cancellationToken);
        var vehicles = await db.LoadBoardAsync(null, includeRetired: false, cancellationToken);
        var trips = await db.Trips.Where(t => t.State == TripState.Active).Include(t => t.Revisions).OrderBy(t => t.StartedAt)
            .ToListAsync(cancellationToken);
        var names = await db.UserNamesAsync(cancellationToken);
        var at = Instants.Normalize(time.GetUtcNow());
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new LiveSnapshot(
            company.LogHead, at, vehicles, trips.ConvertAll(t => TripViews.ToResponse(t, names, !me.SeesDetails(t)))));
    }
}

/// <summary>
/// Writes a live feed as <c>text/event-stream</c> through an <see cref="SseSubscriber"/>. Event frames come pre-encoded by
/// <see cref="SseFormatter"/> (once per event, not per subscriber); heartbeats are comment lines, which
/// <c>ServerSentEventsResult</c> cannot write (see docs/adr/0002-live-fan-out.md).
/// </summary>
public sealed class LiveEventStream : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private readonly LiveConnection _connection;
    private readonly LiveViewer _viewer;
    private readonly LiveFilter _filter;
    private readonly string? _lastEventId;

    internal LiveEventStream(LiveConnection connection, LiveViewer viewer, LiveFilter filter, string? lastEventId)
    {
        _connection = connection;
        _viewer = viewer;
        _filter = filter;
        _lastEventId = lastEventId;
    }

    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        using var connection = _connection;
        var services = httpContext.RequestServices;
        var response = httpContext.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        // The request is authenticated; a stream that stays open for hours need not keep the bearer token (1 KiB each).
        httpContext.Request.Headers.Authorization = default;

        // One token for the stream's life: the connection closes when the client leaves, too. A source linking the two
        // cost about 300 bytes per open stream (docs/benchmarks.md).
        using var clientLeft = httpContext.RequestAborted.UnsafeRegister(static c => ((LiveConnection)c!).Close(), connection);
        var stop = connection.Closing;

        // Headers first: a replay written before the response has started is buffered in extra blocks and copied behind
        // the headers at the first flush (10-15 % of a reconnect storm's server CPU, docs/benchmarks.md).
        await response.StartAsync(stop);

        // The subscriber cuts a client too slow to keep up by aborting its connection, on the publisher's thread. It never
        // does so once RunAsync has returned, so a context Kestrel reuses for the next request is never aborted.
        var subscriber = new SseSubscriber(
            response.BodyWriter, _viewer, _filter, services.GetRequiredService<IOptions<LiveOptions>>().Value,
            services.GetRequiredService<TimeProvider>(), httpContext.Abort);

        // Subscribed before the stream reads where the log stands, so nothing committed in between is missed.
        using var subscription = services.GetRequiredService<ILiveTransport>().Subscribe(_viewer.CompanyId, subscriber.OnEvents);
        await subscriber.RunAsync(
            services.GetRequiredService<LiveFeed>(), services.GetRequiredService<LiveEventStore>(), services.GetRequiredService<SseHeartbeats>(),
            _lastEventId, stop,
            services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
    }

    static void IEndpointMetadataProvider.PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(string), ["text/event-stream"]));
}

/// <summary>Event names the server itself sends on live streams, next to the log's <see cref="Events.EventTypes"/>.</summary>
public static class LiveControl
{
    public const string Reset = "reset";
    public const string Shutdown = "shutdown";
}
