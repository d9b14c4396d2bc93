using System.Diagnostics;
using System.Text.Json;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Events;

/// <summary>
/// Opens the one kind of transaction that changes state: it locks the caller's company counter row
/// first (which serializes that company's writers), so each appended event gets the next dense
/// position and is committed together with the state change it describes.
/// </summary>
public sealed class EventLog(AppDbContext db, TimeProvider time, IEnumerable<IEventSink> sinks, SqliteWriteGate gate, IEnumerable<ILogAppendHook> hooks)
{
    public async Task<LogTransaction> BeginAsync(CancellationToken cancellationToken)
    {
        var companyId = db.CompanyId;
        if (companyId == Guid.Empty)
        {
            throw new InvalidOperationException("A logged write needs a company scope.");
        }

        var asked = Stopwatch.GetTimestamp();

        // SQLite has one writer per file: the gate queues this process's writers (fair, and it wakes the next writer at
        // once, where the database's busy handler would sleep and retry) and commits writes that queued up together.
        SqliteWriteGate.Turn? turn = null;
        IDbContextTransaction? transaction = null;
        try
        {
            if (db is SqliteAppDbContext)
            {
                turn = await gate.EnterAsync(db, cancellationToken);
                transaction = db.Database.CurrentTransaction!;
            }
            else
            {
                transaction = await db.Database.BeginTransactionAsync(cancellationToken);

                // The whole write is one all-or-nothing unit: a savepoint around each SaveChanges would only add statements.
                db.Database.AutoSavepointsEnabled = false;
            }

            // A no-op update takes the row lock (PostgreSQL) before anything is read, and reads the head.
            var head = await LogHeadCommand.ExecuteAsync(db, transaction, companyId, advanceTo: null, cancellationToken)
                ?? throw DomainException.NotFound("company");
            Telemetry.WriteLockWait.Record(Stopwatch.GetElapsedTime(asked).TotalSeconds);
            return new LogTransaction(db, transaction, companyId, head, time, sinks, hooks, turn is null ? null : gate, turn);
        }
        catch
        {
            try
            {
                if (turn is not null)
                {
                    await gate.AbandonAsync(db, turn);
                }
                else if (transaction is not null)
                {
                    await transaction.DisposeAsync();
                    db.Database.AutoSavepointsEnabled = true;
                }
            }
            finally
            {
                // What the caller changed for this write (a draft's entities) is not stored either (see LogTransaction.DisposeAsync).
                db.ChangeTracker.Clear();
            }

            throw;
        }
    }

    /// <summary>
    /// Runs one logged write of a command that may run ahead of the write lock. On SQLite the command first runs as a draft
    /// without the lock, against the committed state at the log head it read; under the lock the draft is kept when nothing
    /// it depends on changed since that head, and the command runs again under the lock when something did
    /// (docs/adr/0010-trip-writes-ahead-of-the-lock.md). On PostgreSQL it runs under the lock.
    /// </summary>
    /// <remarks>
    /// Only for commands whose events name everything they read: the vehicle, the trips and the drivers (a trip's events
    /// carry its vehicle, its id and its driver; the board row its vehicle). What the draft depends on is taken from them
    /// (<see cref="LogTransaction.AdoptAsync"/>). A refusal (a <see cref="DomainException"/>) from the draft is answered at
    /// once: it changes nothing, and it was true of the committed state the draft read.
    /// </remarks>
    public async Task<T> WriteAheadAsync<T>(Func<LogTransaction, Task<T>> command, CancellationToken cancellationToken)
    {
        if (db is not SqliteAppDbContext || db.CompanyId == Guid.Empty)
        {
            return await UnderTheLockAsync(command, cancellationToken);
        }

        LogTransaction draft;
        T result;
        try
        {
            (draft, result) = await gate.DraftAsync(db, async () =>
            {
                var draft = new LogTransaction(db, await CommittedHeadAsync(cancellationToken), time);
                return (draft, await command(draft));
            }, cancellationToken);
        }
        catch
        {
            // Refused or failed: like a write that rolls back, it leaves nothing for a later write of this context to save.
            db.ChangeTracker.Clear();
            throw;
        }

        // What the draft changed on the entities it tracks, found here instead of under the lock: a kept draft's entities
        // change no more before they are saved (ILogAppendHook), so the save under the lock need not compare every property
        // of every tracked entity again (about a tenth of the lock's CPU, docs/benchmarks.md).
        db.ChangeTracker.DetectChanges();
        if (draft.Events.Count == 0 && !db.ChangeTracker.HasChanges())
        {
            // A repeat answered from what is stored: nothing to write.
            return result;
        }

        await using var write = await BeginAsync(cancellationToken);
        if (await write.AdoptAsync(draft, cancellationToken))
        {
            write.ChangesDetected = true;
            Telemetry.WriteDrafts.Add(1, Telemetry.DraftKept);
        }
        else
        {
            Telemetry.WriteDrafts.Add(1, Telemetry.DraftRedone);
            db.ChangeTracker.Clear();
            result = await command(write);
        }

        await write.CommitAsync(cancellationToken);
        return result;
    }

    private async Task<T> UnderTheLockAsync<T>(Func<LogTransaction, Task<T>> command, CancellationToken cancellationToken)
    {
        await using var write = await BeginAsync(cancellationToken);
        var result = await command(write);
        await write.CommitAsync(cancellationToken);
        return result;
    }

    private async Task<long> CommittedHeadAsync(CancellationToken cancellationToken)
    {
        await using var query = (await PlainQuery.CreateAsync(db, "SELECT \"LogHead\" FROM \"Companies\" WHERE \"Id\" = @company", cancellationToken))
            .Id("@company", db.CompanyId);
        var head = await query.ScalarAsync(cancellationToken);
        return head is null or DBNull ? throw DomainException.NotFound("company") : Convert.ToInt64(head, System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// Sees a transaction's events just before they are saved, inside the same database transaction: it may
/// add rows (the logbook journal does) or refuse the whole write by throwing a <see cref="DomainException"/>. It must not
/// change an entity the context tracks: a kept draft's changes were detected before the lock (EventLog.WriteAheadAsync),
/// so such a change would not be saved.
/// </summary>
public interface ILogAppendHook
{
    Task BeforeCommitAsync(LogTransaction write, CancellationToken cancellationToken);
}

/// <summary>Receives the events of a transaction after it committed (the live fan-out hooks in here).</summary>
public interface IEventSink
{
    void Committed(Guid companyId, IReadOnlyList<EventRecord> events);
}

public sealed class LogTransaction : IAsyncDisposable
{
    private readonly AppDbContext _db;
    private readonly IDbContextTransaction? _transaction;
    private readonly Guid _companyId;
    private readonly IEnumerable<IEventSink> _sinks;
    private readonly IEnumerable<ILogAppendHook> _hooks;
    private readonly List<EventRecord> _events = [];
    private List<Action>? _committed;
    private long _head;

    private readonly SqliteWriteGate? _gate;
    private readonly SqliteWriteGate.Turn? _turn;
    private readonly long _lockTaken = Stopwatch.GetTimestamp();
    private Dictionary<(Type, Guid), object>? _carry;
    private bool _disposed;
    private bool _stored;

    internal LogTransaction(AppDbContext db, IDbContextTransaction transaction, Guid companyId, long head, TimeProvider time, IEnumerable<IEventSink> sinks, IEnumerable<ILogAppendHook> hooks, SqliteWriteGate? gate, SqliteWriteGate.Turn? turn)
    {
        _db = db;
        _transaction = transaction;
        _companyId = companyId;
        _head = head;
        StartHead = head;
        _sinks = sinks;
        _hooks = hooks;
        _gate = gate;
        _turn = turn;
        Now = Instants.Normalize(time.GetUtcNow());
    }

    /// <summary>A draft (see <see cref="EventLog.WriteAheadAsync"/>): collects a command's events against <paramref name="head"/> without the lock.</summary>
    internal LogTransaction(AppDbContext db, long head, TimeProvider time)
    {
        _db = db;
        _companyId = db.CompanyId;
        _head = head;
        StartHead = head;
        _sinks = [];
        _hooks = [];
        IsDraft = true;
        Now = Instants.Normalize(time.GetUtcNow());
    }

    /// <summary>Runs without the write lock: its events are kept only by the write that adopts it (<see cref="AdoptAsync"/>).</summary>
    public bool IsDraft { get; }

    /// <summary>The instant of this write, used for every timestamp it records.</summary>
    public DateTimeOffset Now { get; }

    public IReadOnlyList<EventRecord> Events => _events;

    public Guid CompanyId => _companyId;

    /// <summary>
    /// The company's log head when this write took the lock. Every logged change advances it, so state a process remembers
    /// from the same head is still what the database holds (on every instance sharing the database).
    /// </summary>
    public long StartHead { get; }

    /// <summary>
    /// The tracked entities' changes are known to the change tracker already (a kept draft's, detected ahead of the lock),
    /// so the save looks at their states without comparing their properties again.
    /// </summary>
    internal bool ChangesDetected { get; set; }

    /// <summary>The position of the last event appended so far (the head once this write commits).</summary>
    public long Head => _head;

    /// <summary>Runs <paramref name="action"/> once this write has committed, never when it rolls back.</summary>
    public void OnCommitted(Action action) => (_committed ??= []).Add(action);

    /// <summary>
    /// State of this company that a write before this one in the same database transaction left with <see cref="Carry{T}"/>:
    /// on SQLite, writes that queue up commit together (see <see cref="SqliteWriteGate"/>), so what they changed is not
    /// committed yet, and a process-wide cache filled on commit cannot know it. Null when there is none.
    /// </summary>
    public T? Carried<T>() where T : class =>
        _turn?.Carried is { } carried && carried.TryGetValue((typeof(T), _companyId), out var state) ? (T)state : null;

    /// <summary>Leaves <paramref name="state"/> for the writes after this one in the same transaction, if this write is kept.</summary>
    public void Carry<T>(T state) where T : class
    {
        if (_turn is not null)
        {
            (_carry ??= [])[(typeof(T), _companyId)] = state;
        }
    }

    public void Append(string type, object data, Guid? vehicleId = null, Guid? tripId = null, Guid? ownerId = null, object? restrictedData = null, EventAudience audience = EventAudience.Company)
    {
        if (audience != EventAudience.Company && restrictedData is null)
        {
            throw new ArgumentException("An event not meant for the whole company needs its restricted form.", nameof(restrictedData));
        }

        var record = new EventRecord(
            _companyId,
            ++_head,
            type,
            Now,
            JsonSerializer.Serialize(data, data.GetType(), ApiJson.EventOptions),
            restrictedData is null ? null : JsonSerializer.Serialize(restrictedData, restrictedData.GetType(), ApiJson.EventOptions),
            audience,
            vehicleId,
            tripId,
            ownerId);
        _events.Add(record);
    }

    /// <summary>
    /// Takes over <paramref name="draft"/>'s events (at this write's positions and instant) and its commit actions, unless
    /// something the draft read changed since its head: an event logged since then names a vehicle, trip or driver that the
    /// draft's events name, or is not a trip or board event at all (a disabled user, a closed period, a changed vehicle may
    /// change what a trip write decides), or a trip the draft creates exists by now (its id taken meanwhile, in this
    /// company or another). False then: the caller runs the command again under the lock.
    /// </summary>
    internal async Task<bool> AdoptAsync(LogTransaction draft, CancellationToken cancellationToken)
    {
        if (IsDraft || !draft.IsDraft || _events.Count > 0 || draft._companyId != _companyId)
        {
            throw new InvalidOperationException("Only a draft of the same company is adopted, by a write that appended nothing yet.");
        }

        if (await ChangedSinceAsync(draft, cancellationToken))
        {
            return false;
        }

        foreach (var e in draft._events)
        {
            _events.Add(e.At(++_head, Now));
        }

        if (draft._committed is not null)
        {
            (_committed ??= []).AddRange(draft._committed);
        }

        return true;
    }

    // More ids than this of one kind are not looked up: the command runs again under the lock (a draft names one vehicle,
    // one driver and a trip or two; a completion that flags many overlapping trips is rare).
    private const int MaxDependencies = 8;

    private static readonly string TripFamily = string.Join(", ", new[]
    {
        EventTypes.TripStarted, EventTypes.TripCompleted, EventTypes.TripRecorded, EventTypes.TripCancelled, EventTypes.TripVoided,
        EventTypes.TripCorrected, EventTypes.TripNeedsReview, EventTypes.TripReviewResolved, EventTypes.VehicleStatus,
    }.Select(type => $"'{type}'"));

    /// <summary>One statement on the writer's connection: it sees the writes committed since the draft and those of the group.</summary>
    private async Task<bool> ChangedSinceAsync(LogTransaction draft, CancellationToken cancellationToken)
    {
        var events = draft._events;
        var created = Ids(events.Where(e => e.Type is EventTypes.TripStarted or EventTypes.TripRecorded).Select(e => e.TripId));
        var moved = StartHead != draft.StartHead;
        if (!moved && created.Count == 0)
        {
            return false;
        }

        var vehicles = Ids(events.Select(e => e.VehicleId));
        var trips = Ids(events.Select(e => e.TripId));
        var owners = Ids(events.Select(e => e.OwnerId));
        if (vehicles.Count > MaxDependencies || trips.Count > MaxDependencies || owners.Count > MaxDependencies)
        {
            return true;
        }

        var sql = new System.Text.StringBuilder("SELECT 0");
        if (created.Count > 0)
        {
            sql.Append(" OR EXISTS (SELECT 1 FROM \"Trips\" WHERE \"Id\" IN (").AppendJoin(", ", Names("@n", created.Count)).Append("))");
        }

        if (moved)
        {
            sql.Append(" OR EXISTS (SELECT 1 FROM \"Events\" WHERE \"CompanyId\" = @company AND \"Position\" > @since AND (\"Type\" NOT IN (").Append(TripFamily).Append(')');
            AppendIn(sql, "VehicleId", "@v", vehicles.Count);
            AppendIn(sql, "TripId", "@t", trips.Count);
            AppendIn(sql, "OwnerId", "@o", owners.Count);
            sql.Append("))");
        }

        await using var query = await PlainQuery.CreateAsync(_db, sql.ToString(), cancellationToken);
        Bind(query, "@n", created);
        if (moved)
        {
            query.Id("@company", _companyId).Long("@since", draft.StartHead);
            Bind(query, "@v", vehicles);
            Bind(query, "@t", trips);
            Bind(query, "@o", owners);
        }

        return Convert.ToBoolean(await query.ScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);

        static List<Guid> Ids(IEnumerable<Guid?> ids) => ids.OfType<Guid>().Distinct().ToList();

        static IEnumerable<string> Names(string prefix, int count) => Enumerable.Range(0, count).Select(i => prefix + i);

        static void AppendIn(System.Text.StringBuilder sql, string column, string prefix, int count)
        {
            if (count > 0)
            {
                sql.Append(" OR \"").Append(column).Append("\" IN (").AppendJoin(", ", Names(prefix, count)).Append(')');
            }
        }

        static void Bind(PlainQuery query, string prefix, List<Guid> ids)
        {
            for (var i = 0; i < ids.Count; i++)
            {
                query.Id(prefix + i, ids[i]);
            }
        }
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (IsDraft)
        {
            throw new InvalidOperationException("A draft is not committed; the write that adopts it is.");
        }

        foreach (var hook in _hooks)
        {
            await hook.BeforeCommitAsync(this, cancellationToken);
        }

        await DirectSave.SaveChangesAsync(_db, detectChanges: !ChangesDetected, cancellationToken);

        // The events skip EF's change tracker: nothing reads them back through the context (see AppendOnlyRows).
        await AppendOnlyRows.InsertAsync(_db, _events, cancellationToken);
        if (_events.Count > 0)
        {
            await LogHeadCommand.ExecuteAsync(_db, _transaction!, _companyId, advanceTo: _head, cancellationToken);
        }

        if (_gate is not null)
        {
            // Committed with the writes queued behind it, published in order after the commit (see SqliteWriteGate).
            _disposed = true;
            try
            {
                await _gate.CommitAsync(_db, _turn!, Publish, _carry);
            }
            catch
            {
                // The group's commit failed: nothing of this write was stored.
                ForgetChanges();
                throw;
            }

            // Committed: the context's entities are as stored now. Done after the turn, where it holds up no other writer.
            _db.ChangeTracker.AcceptAllChanges();
            return;
        }

        // The caller's cancellation must not abort a commit whose outcome it could then not know.
        await _transaction!.CommitAsync(CancellationToken.None);
        _stored = true;
        try
        {
            // Still under the lock, so the live fan-out sees the company's events in position order.
            Publish();
        }
        finally
        {
            // The next writer may start now; building the caller's response needs no lock.
            await DisposeAsync();
        }
    }

    private void Publish()
    {
        foreach (var action in _committed ?? [])
        {
            action();
        }

        Telemetry.RecordWritten(_events);
        foreach (var sink in _sinks)
        {
            sink.Committed(_companyId, _events);
        }
    }

    /// <summary>
    /// A write that did not commit leaves nothing tracked: its changes were rolled back in the database, and a later logged
    /// write of the same context must not save them (without their events) as its own.
    /// </summary>
    private void ForgetChanges() => _db.ChangeTracker.Clear();

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (IsDraft)
        {
            return;
        }

        if (_gate is not null)
        {
            try
            {
                await _gate.AbandonAsync(_db, _turn!);
            }
            finally
            {
                ForgetChanges();
            }

            return;
        }

        try
        {
            await _transaction!.DisposeAsync();
            _db.Database.AutoSavepointsEnabled = true;
        }
        finally
        {
            Telemetry.WriteLockHeld.Record(Stopwatch.GetElapsedTime(_lockTaken).TotalSeconds);
            if (!_stored)
            {
                ForgetChanges();
            }
        }
    }
}

/// <summary>
/// The two statements on the company's counter row, sent as plain commands: they run twice per write, and EF's query
/// pipeline (parameter extraction, command cache) would cost more than the statements themselves.
/// </summary>
internal static class LogHeadCommand
{
    /// <summary>
    /// Without <paramref name="advanceTo"/>: a no-op update that takes the company's row lock and returns the head.
    /// With it: sets the head to the last appended position. Null when the company does not exist.
    /// </summary>
    public static async Task<long?> ExecuteAsync(AppDbContext db, IDbContextTransaction transaction, Guid companyId, long? advanceTo, CancellationToken cancellationToken)
    {
        await using var command = SqliteWriterConnection.Create(db.Database.GetDbConnection(), transaction.GetDbTransaction(), advanceTo is null
            ? "UPDATE \"Companies\" SET \"LogHead\" = \"LogHead\" WHERE \"Id\" = @company RETURNING \"LogHead\""
            : "UPDATE \"Companies\" SET \"LogHead\" = @head WHERE \"Id\" = @company RETURNING \"LogHead\"");
        // The provider's own mapping stores the id exactly as EF does (SQLite: upper-case text, PostgreSQL: uuid).
        command.Parameters.Add(db.IdMapping.CreateParameter(command, "@company", companyId));
        if (advanceTo is { } head)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@head";
            parameter.Value = head;
            command.Parameters.Add(parameter);
        }

        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is null or DBNull ? null : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
    }
}
