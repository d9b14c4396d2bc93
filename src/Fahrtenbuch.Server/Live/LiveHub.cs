using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.RateLimiting;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>One event on the hub: <see cref="Position"/> is null for server notices that are not part of the log (shutdown).</summary>
public sealed record LiveMessage(long? Position, string Type, DateTimeOffset? OccurredAt, JsonElement Data);

/// <summary>The answer to a hub command: the REST result (status and body) or the problem (status, code, detail).</summary>
public sealed record CommandAck(bool Ok, int Status, object? Result, string? Code, string? Detail);

/// <summary>
/// The live events over WebSockets plus commands with acknowledgements. <c>Events</c> streams the same feed as
/// <c>GET /api/events</c> (company scope implicit, vehicle scope by argument); commands run the REST handlers.
/// </summary>
[Authorize]
public sealed class LiveHub(
    LiveConnections connections, LiveFeed feed, SessionValidator sessions, LiveCommandLimiter limiter,
    IServiceScopeFactory scopes, IOptions<LiveOptions> options, IHostApplicationLifetime lifetime, HubShutdown shutdown, TimeProvider time,
    ILogger<LiveHub> logger) : Hub
{
    public const string Path = "/hubs/live";
    private const string StateKey = "live.state";

    public override Task OnConnectedAsync()
    {
        LiveConnection connection;
        try
        {
            connection = connections.Open(Me(), LiveTransports.SignalR);
        }
        catch (DomainException e)
        {
            throw new HubException($"{e.Code}: {e.Message}");
        }

        var state = new HubState(connection);
        Context.Items[StateKey] = state;
        var context = Context;
        connection.Closing.Register(context.Abort);

        // Connections with an open event stream get their shutdown notice first (see HubShutdown).
        state.Stopping = lifetime.ApplicationStopping.Register(() =>
        {
            if (Volatile.Read(ref state.Streams) == 0)
            {
                context.Abort();
            }
        });
        return Task.CompletedTask;
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        if (Context.Items[StateKey] is HubState state)
        {
            state.Stopping.Dispose();
            state.Connection.Dispose();
        }

        return Task.CompletedTask;
    }

    /// <summary>Streams the caller's events after <paramref name="after"/> (null: from now on), optionally for one vehicle or only the caller's own.</summary>
    public IAsyncEnumerable<LiveMessage> Events(string? after, Guid? vehicleId, bool mine, CancellationToken cancellationToken)
    {
        var state = (HubState)Context.Items[StateKey]!;
        return StreamAsync(feed, shutdown, state, Context, LiveViewer.From(Me()), new LiveFilter(vehicleId, mine), after, options.Value, time, cancellationToken);
    }

    public Task<CommandAck> StartTrip(StartTripRequest request) =>
        RunAsync(request, async (services, me, ct) =>
            (await TripEndpoints.Start(request, me, services.GetRequiredService<AppDbContext>(), services.GetRequiredService<EventLog>(), ct)).Result);

    public Task<CommandAck> CompleteTrip(Guid tripId, CompleteTripRequest request) =>
        RunAsync(request, async (services, me, ct) =>
            await TripEndpoints.Complete(tripId, request, me, services.GetRequiredService<AppDbContext>(), services.GetRequiredService<EventLog>(), ct));

    public Task<CommandAck> RecordOdometer(Guid vehicleId, RecordOdometerRequest request) =>
        RunAsync(request, async (services, me, ct) =>
            (await VehicleEndpoints.RecordOdometer(vehicleId, request, me, services.GetRequiredService<AppDbContext>(), services.GetRequiredService<EventLog>(), ct)).Result);

    private static async IAsyncEnumerable<LiveMessage> StreamAsync(
        LiveFeed feed, HubShutdown shutdown, HubState state, HubCallerContext context, LiveViewer viewer, LiveFilter filter, string? after, LiveOptions options,
        TimeProvider time, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var transport = Telemetry.TransportTag(LiveTransports.SignalR);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.Connection.Closing);
        Interlocked.Increment(ref state.Streams);
        using var drained = shutdown.Track();
        try
        {
            await foreach (var item in feed.ReadAsync(viewer, filter, after, context.Abort, stop.Token))
            {
                switch (item.Kind)
                {
                    case LiveItemKind.Event:
                        Telemetry.RecordDelivered(item.Event!.OccurredAt, item.Replayed, time, transport);
                        yield return new LiveMessage(item.Position, item.Event!.Type, item.Event.OccurredAt, item.Event.JsonFor(item.Full));
                        break;
                    case LiveItemKind.Reset:
                        yield return new LiveMessage(item.Position, LiveControl.Reset, null,
                            JsonSerializer.SerializeToElement(new ResetNotice("position-unavailable", item.Position), ApiJson.Options));
                        break;
                    case LiveItemKind.Shutdown:
                        yield return new LiveMessage(null, LiveControl.Shutdown, null,
                            JsonSerializer.SerializeToElement(new ShutdownNotice("server-stopping", options.ShutdownRetryMilliseconds), ApiJson.Options));

                        // No abort: it would drop the notice before the transport sent it. SignalR closes the connection.
                        yield break;
                    default:
                        // SignalR keeps the connection alive with its own pings.
                        break;
                }
            }

            // The feed ends by itself only when the viewer was disabled.
            context.Abort();
        }
        finally
        {
            Interlocked.Decrement(ref state.Streams);
        }
    }

    private async Task<CommandAck> RunAsync(object? request, Func<IServiceProvider, CurrentUser, CancellationToken, Task<IResult>> command)
    {
        var me = Me();
        var aborted = Context.ConnectionAborted;
        try
        {
            if (!await sessions.IsActiveAsync(me.Id, me.SessionId, aborted))
            {
                Context.Abort();
                return Problem(401, ErrorCodes.Unauthenticated, "The session has ended; sign in again.");
            }

            if (me.Role == UserRole.Auditor)
            {
                return Problem(403, ErrorCodes.Forbidden, "Your role does not allow this.");
            }

            using var lease = limiter.Acquire(me.Id);
            if (!lease.IsAcquired)
            {
                return Problem(429, ErrorCodes.RateLimited, "Too many commands; slow down and retry later.");
            }

            CommandValidation.Validate(request);
            await using var scope = scopes.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = me.CompanyId;
            var result = await command(scope.ServiceProvider, me, aborted);
            var status = (result as IStatusCodeHttpResult)?.StatusCode ?? 200;
            return new CommandAck(true, status, (result as IValueHttpResult)?.Value, null, null);
        }
        catch (DomainException e)
        {
            return Problem(e.Status, e.Code, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Hub command failed for user {UserId}", me.Id);
            return Problem(500, "server.error", "An unexpected error occurred. It has been logged.");
        }
    }

    private static CommandAck Problem(int status, string code, string detail) => new(false, status, null, code, detail);

    private CurrentUser Me() => CurrentUser.From(Context.User!) ?? throw new HubException(ErrorCodes.Unauthenticated);

    private sealed class HubState(LiveConnection connection)
    {
        public int Streams;

        public LiveConnection Connection { get; } = connection;

        public CancellationTokenRegistration Stopping { get; set; }
    }
}

/// <summary>
/// SignalR closes every hub connection as soon as the application is stopping, without waiting for what its transports
/// have not sent yet, so a hub stream's last events and its shutdown notice were lost. The first hub stream registers
/// <see cref="Drain"/> on <see cref="IHostApplicationLifetime.ApplicationStopping"/> after SignalR's own callback (made
/// when the server starts), so it runs first: it waits until every hub stream has sent what was committed and its notice,
/// at most <see cref="LiveOptions.HubShutdownGraceMilliseconds"/>, then gives the transports a moment to send them.
/// </summary>
public sealed class HubShutdown(IHostApplicationLifetime lifetime, IOptions<LiveOptions> options, TimeProvider time)
{
    /// <summary>
    /// Time for the transports to send the last messages once every stream has ended: the stream hands its notice to
    /// SignalR's output pipe, and the transport's send loop needs a thread to take it from there. With 100 ms a client on a
    /// loaded two-core CI machine once got every event but not the notice, so a stopping server now gives it half a second
    /// (only when a stream was open).
    /// </summary>
    private static readonly TimeSpan SendTime = TimeSpan.FromMilliseconds(500);

    private int _streams;
    private int _registered;

    /// <summary>Counts a running hub stream until the returned handle is disposed.</summary>
    public IDisposable Track()
    {
        Interlocked.Increment(ref _streams);

        // Not once the server is stopping: registering then would run the drain at once, on this stream's own thread.
        if (!lifetime.ApplicationStopping.IsCancellationRequested && Interlocked.Exchange(ref _registered, 1) == 0)
        {
            lifetime.ApplicationStopping.Register(Drain);
        }

        return new Tracked(this);
    }

    private void Drain()
    {
        if (Volatile.Read(ref _streams) == 0)
        {
            // No stream open: nothing to end and send, and no reason to hold the shutdown up.
            return;
        }

        var grace = TimeSpan.FromMilliseconds(options.Value.HubShutdownGraceMilliseconds);
        var started = time.GetTimestamp();
        if (SpinWait.SpinUntil(() => Volatile.Read(ref _streams) == 0, grace))
        {
            Thread.Sleep(TimeSpan.FromTicks(Math.Clamp((grace - time.GetElapsedTime(started)).Ticks, 0, SendTime.Ticks)));
        }
    }

    private sealed class Tracked(HubShutdown owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._streams);
            }
        }
    }
}

/// <summary>Per-user token bucket for hub commands (REST writes have their own limiter policy).</summary>
public sealed class LiveCommandLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<Guid> _limiter;

    public LiveCommandLimiter(IOptions<LiveOptions> options)
    {
        var o = options.Value;
        _limiter = PartitionedRateLimiter.Create<Guid, Guid>(user => RateLimitPartition.GetTokenBucketLimiter(user, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.HubCommandBurst,
            TokensPerPeriod = o.HubCommandsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
        }));
    }

    public RateLimitLease Acquire(Guid userId) => _limiter.AttemptAcquire(userId);

    public void Dispose() => _limiter.Dispose();
}

/// <summary>
/// The data annotations of a request record, checked for hub commands as the REST pipeline's validation does
/// (positional records carry them on constructor parameters, which <see cref="Validator"/> does not read).
/// </summary>
internal static class CommandValidation
{
    public static void Validate(object? request)
    {
        if (request is null)
        {
            throw new DomainException(StatusCodes.Status400BadRequest, ErrorCodes.Validation, "The command needs a request body.");
        }

        var type = request.GetType();
        var errors = new List<string>();
        foreach (var parameter in type.GetConstructors().SelectMany(c => c.GetParameters()))
        {
            var property = type.GetProperty(parameter.Name!, BindingFlags.Public | BindingFlags.Instance);
            if (property is null)
            {
                continue;
            }

            var value = property.GetValue(request);
            var context = new ValidationContext(request) { MemberName = property.Name, DisplayName = property.Name };
            foreach (var attribute in parameter.GetCustomAttributes<ValidationAttribute>())
            {
                if (attribute.GetValidationResult(value, context) is { } failure && failure != ValidationResult.Success)
                {
                    errors.Add(failure.ErrorMessage ?? $"{property.Name} is invalid.");
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new DomainException(StatusCodes.Status400BadRequest, ErrorCodes.Validation, string.Join(" ", errors.Distinct()));
        }
    }
}
