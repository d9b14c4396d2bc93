using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Fahrtenbuch.Client;

/// <summary>A trip as this device knows it: written when an operation is queued, corrected by the server's answer.</summary>
public sealed record LocalTrip(Guid Id, Guid VehicleId, string State, int StartOdometer, int? EndOdometer, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string Review, bool Synced);

/// <summary>What one flush did.</summary>
public sealed record FlushReport(int Sent, int Applied, int Conflicts, int Rejected, int Remaining, long? Position);

/// <summary>
/// The durable local queue of operations, in a SQLite file. Each operation gets its id once, when it is
/// queued, in the same local transaction that updates the local trip view; a flush sends the stored
/// bytes unchanged and removes operations only after the server's answer for them arrived. So an
/// operation is either queued or acknowledged: a crash or a cut connection at any point at most
/// sends it again, with the same id, which the server answers as already applied.
/// </summary>
public sealed class Outbox : IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _flushing = new(1, 1);

    public Outbox(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, captured_at TEXT NOT NULL,
                trip_id TEXT, vehicle_id TEXT, payload TEXT);
            CREATE TABLE IF NOT EXISTS acknowledged (id TEXT PRIMARY KEY, status TEXT NOT NULL, problem_code TEXT, problem_detail TEXT, acked_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS trips (
                id TEXT PRIMARY KEY, vehicle_id TEXT NOT NULL, state TEXT NOT NULL, start_odometer INTEGER NOT NULL, end_odometer INTEGER,
                started_at TEXT NOT NULL, ended_at TEXT, review TEXT NOT NULL DEFAULT 'none', synced INTEGER NOT NULL DEFAULT 0);
            """);
        var device = Scalar(connection, "SELECT value FROM meta WHERE key = 'device'");
        if (device is null)
        {
            device = Guid.NewGuid().ToString();
            Execute(connection, "INSERT INTO meta (key, value) VALUES ('device', $v)", ("$v", device));
        }

        DeviceId = Guid.Parse(device);
    }

    /// <summary>This device's id, created with the outbox and sent with every sync.</summary>
    public Guid DeviceId { get; }

    /// <summary>Operations sent per request (the server accepts up to 5,000 by default).</summary>
    public int BatchSize { get; set; } = 1_000;

    public int Count
    {
        get
        {
            using var connection = Open();
            return Convert.ToInt32(Scalar(connection, "SELECT COUNT(*) FROM outbox"), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public Guid StartTrip(Guid vehicleId, int startOdometer, string? startPlace = null, DateTimeOffset? at = null)
    {
        var tripId = Guid.CreateVersion7();
        var now = at ?? DateTimeOffset.UtcNow;
        Enqueue(OperationTypes.TripStart, now, tripId, vehicleId, new { startOdometer, startedAt = now, startPlace }, c =>
            Execute(c, "INSERT INTO trips (id, vehicle_id, state, start_odometer, started_at) VALUES ($id, $v, 'active', $o, $at)",
                ("$id", tripId.ToString()), ("$v", vehicleId.ToString()), ("$o", startOdometer), ("$at", now.ToString("O"))));
        return tripId;
    }

    public void CompleteTrip(Guid tripId, TripCompletion completion, DateTimeOffset? at = null)
    {
        var now = at ?? DateTimeOffset.UtcNow;
        completion = completion with { EndedAt = completion.EndedAt ?? now };
        Enqueue(OperationTypes.TripComplete, now, tripId, null, completion, c =>
            Execute(c, "UPDATE trips SET state = 'completed', end_odometer = $o, ended_at = $at, synced = 0 WHERE id = $id",
                ("$id", tripId.ToString()), ("$o", completion.EndOdometer), ("$at", completion.EndedAt!.Value.ToString("O"))));
    }

    public void CancelTrip(Guid tripId, string reason, DateTimeOffset? at = null) =>
        Enqueue(OperationTypes.TripCancel, at ?? DateTimeOffset.UtcNow, tripId, null, new { reason }, c =>
            Execute(c, "UPDATE trips SET state = 'cancelled', synced = 0 WHERE id = $id", ("$id", tripId.ToString())));

    /// <summary>Queues a trip entered afterwards (already driven and finished).</summary>
    public Guid RecordTrip(Guid vehicleId, DateTimeOffset startedAt, int startOdometer, TripCompletion completion, string? startPlace = null)
    {
        var tripId = Guid.CreateVersion7();
        var endedAt = completion.EndedAt ?? DateTimeOffset.UtcNow;
        var payload = new
        {
            startedAt,
            endedAt,
            startOdometer,
            endOdometer = completion.EndOdometer,
            category = completion.Category,
            startPlace,
            endPlace = completion.EndPlace,
            destination = completion.Destination,
            purpose = completion.Purpose,
            businessPartner = completion.BusinessPartner,
        };
        Enqueue(OperationTypes.TripRecord, DateTimeOffset.UtcNow, tripId, vehicleId, payload, c =>
            Execute(c, "INSERT INTO trips (id, vehicle_id, state, start_odometer, end_odometer, started_at, ended_at) VALUES ($id, $v, 'completed', $o, $e, $at, $end)",
                ("$id", tripId.ToString()), ("$v", vehicleId.ToString()), ("$o", startOdometer), ("$e", completion.EndOdometer),
                ("$at", startedAt.ToString("O")), ("$end", endedAt.ToString("O"))));
        return tripId;
    }

    public void RecordOdometer(Guid vehicleId, int value, string? note = null) =>
        Enqueue(OperationTypes.OdometerRecord, DateTimeOffset.UtcNow, null, vehicleId, new { value, note }, null);

    /// <summary>The operations still waiting for the server, oldest first.</summary>
    public List<SyncOperation> Pending(int limit = int.MaxValue)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, type, captured_at, trip_id, vehicle_id, payload FROM outbox ORDER BY seq LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        using var reader = command.ExecuteReader();
        var operations = new List<SyncOperation>();
        while (reader.Read())
        {
            JsonElement? payload = reader.IsDBNull(5) ? null : JsonDocument.Parse(reader.GetString(5)).RootElement.Clone();
            operations.Add(new SyncOperation(
                Guid.Parse(reader.GetString(0)), reader.GetString(1), DateTimeOffset.Parse(reader.GetString(2), System.Globalization.CultureInfo.InvariantCulture),
                reader.IsDBNull(3) ? null : Guid.Parse(reader.GetString(3)), reader.IsDBNull(4) ? null : Guid.Parse(reader.GetString(4)), payload));
        }

        return operations;
    }

    public List<LocalTrip> Trips()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, vehicle_id, state, start_odometer, end_odometer, started_at, ended_at, review, synced FROM trips ORDER BY started_at";
        using var reader = command.ExecuteReader();
        var trips = new List<LocalTrip>();
        while (reader.Read())
        {
            trips.Add(new LocalTrip(
                Guid.Parse(reader.GetString(0)), Guid.Parse(reader.GetString(1)), reader.GetString(2), reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetInt32(4), DateTimeOffset.Parse(reader.GetString(5), System.Globalization.CultureInfo.InvariantCulture),
                reader.IsDBNull(6) ? null : DateTimeOffset.Parse(reader.GetString(6), System.Globalization.CultureInfo.InvariantCulture),
                reader.GetString(7), reader.GetInt64(8) == 1));
        }

        return trips;
    }

    /// <summary>The newest local trip still active, if any.</summary>
    public LocalTrip? ActiveTrip() => Trips().LastOrDefault(t => t.State == "active");

    /// <summary>
    /// Sends the queue in order, batch by batch, and removes each operation once its answer arrived.
    /// Throws when the server cannot be reached; what was not acknowledged stays queued.
    /// </summary>
    public async Task<FlushReport> FlushAsync(FahrtenbuchClient client, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        await _flushing.WaitAsync(cancellationToken);
        try
        {
            var total = Count;
            int sent = 0, applied = 0, conflicts = 0, rejected = 0;
            long? position = null;
            progress?.Report((0, total));
            while (true)
            {
                var batch = Pending(BatchSize);
                if (batch.Count == 0)
                {
                    return new FlushReport(sent, applied, conflicts, rejected, 0, position);
                }

                var response = await client.SyncAsync(DeviceId, batch, cancellationToken);
                Acknowledge(response);
                position = response.Position;
                sent += response.Results.Count;
                applied += response.Results.Count(r => r.Status is "applied" or "already-applied");
                conflicts += response.Results.Count(r => r.Status == "conflict");
                rejected += response.Results.Count(r => r.Status == "rejected");
                progress?.Report((Math.Min(sent, total), Math.Max(total, sent)));
            }
        }
        finally
        {
            _flushing.Release();
        }
    }

    public void Dispose() => _flushing.Dispose();

    private void Acknowledge(SyncResponse response)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var result in response.Results)
        {
            Execute(connection, "DELETE FROM outbox WHERE id = $id", ("$id", result.Id.ToString()));
            Execute(connection, "INSERT OR REPLACE INTO acknowledged (id, status, problem_code, problem_detail, acked_at) VALUES ($id, $s, $c, $d, $at)",
                ("$id", result.Id.ToString()), ("$s", result.Status), ("$c", result.Problem?.Code), ("$d", result.Problem?.Detail), ("$at", DateTimeOffset.UtcNow.ToString("O")));
            if (result.Trip is { Restricted: false } trip)
            {
                // The server's answer is the truth about the trip; the local view follows it.
                Execute(connection, """
                    INSERT INTO trips (id, vehicle_id, state, start_odometer, end_odometer, started_at, ended_at, review, synced)
                    VALUES ($id, $v, $state, $o, $e, $at, $end, $review, 1)
                    ON CONFLICT (id) DO UPDATE SET state = $state, start_odometer = $o, end_odometer = $e, started_at = $at, ended_at = $end, review = $review,
                        synced = CASE WHEN NOT EXISTS (SELECT 1 FROM outbox WHERE trip_id = $id) THEN 1 ELSE 0 END
                    """,
                    ("$id", trip.Id.ToString()), ("$v", trip.VehicleId.ToString()), ("$state", trip.State), ("$o", trip.StartOdometer), ("$e", trip.EndOdometer),
                    ("$at", trip.StartedAt.ToString("O")), ("$end", trip.EndedAt?.ToString("O")), ("$review", trip.Review));
            }
        }

        transaction.Commit();
    }

    private void Enqueue(string type, DateTimeOffset capturedAt, Guid? tripId, Guid? vehicleId, object? payload, Action<SqliteConnection>? updateView)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        Execute(connection, "INSERT INTO outbox (id, type, captured_at, trip_id, vehicle_id, payload) VALUES ($id, $t, $at, $trip, $v, $p)",
            ("$id", Guid.CreateVersion7().ToString()), ("$t", type), ("$at", capturedAt.ToString("O")), ("$trip", tripId?.ToString()), ("$v", vehicleId?.ToString()),
            ("$p", payload is null ? null : JsonSerializer.Serialize(payload, payload.GetType(), ClientJson.Options)));
        updateView?.Invoke(connection);
        transaction.Commit();
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA synchronous=FULL;");
        return connection;
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar()?.ToString();
    }

    private static void Execute(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        command.ExecuteNonQuery();
    }
}
