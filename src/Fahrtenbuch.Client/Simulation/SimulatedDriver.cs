namespace Fahrtenbuch.Client.Simulation;

/// <summary>What the simulated drivers did, summed up.</summary>
public sealed class SimulationStats
{
    private int _tripsStarted;
    private int _tripsCompleted;
    private int _tripsCancelled;
    private int _tripsRecorded;
    private int _flushFailures;
    private int _offlinePeriods;

    public int TripsStarted => _tripsStarted;

    public int TripsCompleted => _tripsCompleted;

    public int TripsCancelled => _tripsCancelled;

    public int TripsRecorded => _tripsRecorded;

    public int FlushFailures => _flushFailures;

    public int OfflinePeriods => _offlinePeriods;

    internal void Started() => Interlocked.Increment(ref _tripsStarted);

    internal void Completed() => Interlocked.Increment(ref _tripsCompleted);

    internal void Cancelled() => Interlocked.Increment(ref _tripsCancelled);

    internal void Recorded() => Interlocked.Increment(ref _tripsRecorded);

    internal void FlushFailed() => Interlocked.Increment(ref _flushFailures);

    internal void WentOffline() => Interlocked.Increment(ref _offlinePeriods);
}

/// <summary>
/// One virtual driver with a phone: starts a trip on their car, drives a while, completes it (now and
/// then cancels one or enters a missed trip afterwards), loses the connection for random periods and
/// queues everything in a local outbox that is flushed whenever the phone is online.
/// Time is compressed: a "trip" lasts a fraction of a second of real time.
/// </summary>
public sealed class SimulatedDriver(FahrtenbuchClient client, Outbox outbox, Guid vehicleId, int odometer, Random random, SimulationStats stats)
{
    private int _odometer = odometer;
    private DateTimeOffset _offlineUntil = DateTimeOffset.MinValue;
    private DateTimeOffset _lastEnd = DateTimeOffset.UtcNow.AddMinutes(-1);

    public FahrtenbuchClient Client => client;

    public Outbox Outbox => outbox;

    public Guid VehicleId => vehicleId;

    /// <summary>Typical pause between two actions of the driver.</summary>
    public TimeSpan Step { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Chance per step of losing the connection, and how long it stays lost at most.</summary>
    public double OfflineChance { get; set; } = 0.08;

    public TimeSpan MaxOffline { get; set; } = TimeSpan.FromSeconds(2);

    public bool IsOffline => DateTimeOffset.UtcNow < _offlineUntil;

    /// <summary>Drives until <paramref name="duration"/> has passed, then comes online and flushes until the outbox is empty.</summary>
    public async Task RunAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var end = DateTimeOffset.UtcNow + duration;
        Guid? active = outbox.ActiveTrip()?.Id;
        while (DateTimeOffset.UtcNow < end && !cancellationToken.IsCancellationRequested)
        {
            if (!IsOffline && random.NextDouble() < OfflineChance)
            {
                _offlineUntil = DateTimeOffset.UtcNow + (MaxOffline * random.NextDouble());
                stats.WentOffline();
            }

            if (active is null)
            {
                if (random.NextDouble() < 0.15)
                {
                    // A trip driven without the app, entered afterwards.
                    var km = random.Next(3, 60);
                    var endedAt = DateTimeOffset.UtcNow;
                    outbox.RecordTrip(vehicleId, _lastEnd.AddMilliseconds(1), _odometer, new TripCompletion(_odometer + km, "private", endedAt));
                    _odometer += km;
                    _lastEnd = endedAt;
                    stats.Recorded();
                }
                else
                {
                    active = outbox.StartTrip(vehicleId, _odometer);
                    await Task.Delay(TimeSpan.FromMilliseconds(2), cancellationToken);
                    stats.Started();
                }
            }
            else if (random.NextDouble() < 0.1)
            {
                outbox.CancelTrip(active.Value, "Fahrt nicht angetreten");
                active = null;
                stats.Cancelled();
            }
            else
            {
                var km = random.Next(2, 120);
                _odometer += km;
                _lastEnd = DateTimeOffset.UtcNow;
                outbox.CompleteTrip(active.Value, new TripCompletion(_odometer, random.NextDouble() < 0.5 ? "commute" : "private"), _lastEnd);
                active = null;
                stats.Completed();
            }

            if (!IsOffline)
            {
                await TryFlushAsync(cancellationToken);
            }

            await Task.Delay(Step * (0.5 + random.NextDouble()), cancellationToken);
        }

        if (active is { } open)
        {
            _odometer += random.Next(2, 50);
            outbox.CompleteTrip(open, new TripCompletion(_odometer, "private"));
            stats.Completed();
        }

        _offlineUntil = DateTimeOffset.MinValue;
        await DrainAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>Flushes until the outbox is empty or the time is up (the network may still be cutting connections).</summary>
    public async Task DrainAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var until = DateTimeOffset.UtcNow + limit;
        while (outbox.Count > 0 && DateTimeOffset.UtcNow < until)
        {
            if (!await TryFlushAsync(cancellationToken))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 + random.Next(200)), cancellationToken);
            }
        }
    }

    private async Task<bool> TryFlushAsync(CancellationToken cancellationToken)
    {
        try
        {
            await outbox.FlushAsync(client, cancellationToken: cancellationToken);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or FahrtenbuchApiException or System.Text.Json.JsonException)
        {
            stats.FlushFailed();
            return false;
        }
    }
}
