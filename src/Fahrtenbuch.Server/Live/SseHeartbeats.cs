using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>
/// Sends the comment heartbeats of every open SSE stream from one timer. A timer per stream cost a task wake-up, a timer
/// and two allocations per stream and interval; 10,000 idle streams kept a third of a core busy every 15 seconds.
/// The sweep runs four times per heartbeat interval (at most once a second), so a quiet stream gets its heartbeat within
/// 1.25 intervals.
/// </summary>
public sealed class SseHeartbeats(IOptions<LiveOptions> options, TimeProvider time) : BackgroundService
{
    private readonly Lock _gate = new();
    private readonly HashSet<SseSubscriber> _streams = [];
    private SseSubscriber[]? _snapshot;

    internal IDisposable Add(SseSubscriber stream)
    {
        lock (_gate)
        {
            _streams.Add(stream);
            _snapshot = null;
        }

        return new Registration(this, stream);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, options.Value.Heartbeat.Ticks / 4));
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                SseSubscriber[] streams;
                lock (_gate)
                {
                    streams = _snapshot ??= [.. _streams];
                }

                foreach (var stream in streams)
                {
                    stream.BeatIfQuiet();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Remove(SseSubscriber stream)
    {
        lock (_gate)
        {
            _streams.Remove(stream);
            _snapshot = null;
        }
    }

    private sealed class Registration(SseHeartbeats owner, SseSubscriber stream) : IDisposable
    {
        public void Dispose() => owner.Remove(stream);
    }
}
