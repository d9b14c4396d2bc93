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

        // SQLite has one writer per file; queueing here is fair and wakes the next writer at once, where the
        // database's busy handler would sleep and retry with growing pauses.
        var gated = db is SqliteAppDbContext;
        if (gated)
        {
            await gate.WaitAsync(cancellationToken);
        }

        IDbContextTransaction? transaction = null;
        try
        {
            transaction = await db.Database.BeginTransactionAsync(cancellationToken);

            // The whole write is one all-or-nothing unit: a savepoint around each SaveChanges would only add statements.
            db.Database.AutoSavepointsEnabled = false;

            // A no-op update takes the row lock (PostgreSQL) or the write lock (SQLite) before anything is read.
            var head = await LogHeadCommand.ExecuteAsync(db, transaction, companyId, advanceTo: null, cancellationToken)
                ?? throw DomainException.NotFound("company");
            var held = Stopwatch.GetTimestamp();
            Telemetry.WriteLockWait.Record(Stopwatch.GetElapsedTime(asked, held).TotalSeconds);
            return new LogTransaction(db, transaction, companyId, head, time, sinks, hooks, gated ? gate : null, held);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            if (gated)
            {
                gate.Release();
            }

            throw;
        }
    }
}

/// <summary>
/// Sees a transaction's events just before they are saved, inside the same database transaction: it may
/// add rows (the logbook journal does) or refuse the whole write by throwing a <see cref="DomainException"/>.
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
    private readonly IDbContextTransaction _transaction;
    private readonly Guid _companyId;
    private readonly IEnumerable<IEventSink> _sinks;
    private readonly IEnumerable<ILogAppendHook> _hooks;
    private readonly List<EventRecord> _events = [];
    private List<Action>? _committed;
    private long _head;

    private readonly SqliteWriteGate? _gate;
    private readonly long _lockTaken;
    private bool _disposed;

    internal LogTransaction(AppDbContext db, IDbContextTransaction transaction, Guid companyId, long head, TimeProvider time, IEnumerable<IEventSink> sinks, IEnumerable<ILogAppendHook> hooks, SqliteWriteGate? gate, long lockTaken)
    {
        _lockTaken = lockTaken;
        _db = db;
        _transaction = transaction;
        _companyId = companyId;
        _head = head;
        StartHead = head;
        _sinks = sinks;
        _hooks = hooks;
        _gate = gate;
        Now = Instants.Normalize(time.GetUtcNow());
    }

    /// <summary>The instant of this write, used for every timestamp it records.</summary>
    public DateTimeOffset Now { get; }

    public IReadOnlyList<EventRecord> Events => _events;

    public Guid CompanyId => _companyId;

    /// <summary>
    /// The company's log head when this write took the lock. Every logged change advances it, so state a process remembers
    /// from the same head is still what the database holds (on every instance sharing the database).
    /// </summary>
    public long StartHead { get; }

    /// <summary>The position of the last event appended so far (the head once this write commits).</summary>
    public long Head => _head;

    /// <summary>Runs <paramref name="action"/> once this write has committed, never when it rolls back.</summary>
    public void OnCommitted(Action action) => (_committed ??= []).Add(action);

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
            JsonSerializer.Serialize(data, data.GetType(), ApiJson.Options),
            restrictedData is null ? null : JsonSerializer.Serialize(restrictedData, restrictedData.GetType(), ApiJson.Options),
            audience,
            vehicleId,
            tripId,
            ownerId);
        _events.Add(record);
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        foreach (var hook in _hooks)
        {
            await hook.BeforeCommitAsync(this, cancellationToken);
        }

        await _db.SaveChangesAsync(cancellationToken);

        // The events skip EF's change tracker: nothing reads them back through the context (see AppendOnlyRows).
        await AppendOnlyRows.InsertAsync(_db, _events, cancellationToken);
        if (_events.Count > 0)
        {
            await LogHeadCommand.ExecuteAsync(_db, _transaction, _companyId, advanceTo: _head, cancellationToken);
        }

        // The caller's cancellation must not abort a commit whose outcome it could then not know.
        await _transaction.CommitAsync(CancellationToken.None);
        try
        {
            // Still under the lock, so on SQLite the live fan-out sees the company's events in position order and need
            // not repair a gap from the database.
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
        finally
        {
            // The next writer may start now; building the caller's response needs no lock.
            await DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        bool handedOver;
        try
        {
            await _transaction.DisposeAsync();
            _db.Database.AutoSavepointsEnabled = true;
        }
        finally
        {
            Telemetry.WriteLockHeld.Record(Stopwatch.GetElapsedTime(_lockTaken).TotalSeconds);
            handedOver = _gate?.Release() ?? false;
        }

        if (handedOver)
        {
            // The next writer's continuation was queued on this thread's local queue, behind the rest of this request (its
            // response), until an idle worker was woken to steal it. Moving the rest of this request to the global queue lets
            // this thread run the next writer at once: the lock cycle's part outside the lock fell from 0.15-0.21 ms to
            // 0.07-0.11 ms per write under load, of which BEGIN and the head update are most (docs/benchmarks.md).
            await Task.Yield();
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
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction.GetDbTransaction();
        command.CommandText = advanceTo is null
            ? "UPDATE \"Companies\" SET \"LogHead\" = \"LogHead\" WHERE \"Id\" = @company RETURNING \"LogHead\""
            : "UPDATE \"Companies\" SET \"LogHead\" = @head WHERE \"Id\" = @company RETURNING \"LogHead\"";
        // The provider's own mapping stores the id exactly as EF does (SQLite: upper-case text, PostgreSQL: uuid).
        command.Parameters.Add(db.IdMapping.CreateParameter(command, "company", companyId));
        if (advanceTo is { } head)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "head";
            parameter.Value = head;
            command.Parameters.Add(parameter);
        }

        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is null or DBNull ? null : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Queues this process's writers to a SQLite file one at a time (see <see cref="EventLog"/>).</summary>
public sealed class SqliteWriteGate : IDisposable
{
    private readonly SemaphoreSlim _semaphore = new(1, 1);

    public Task WaitAsync(CancellationToken cancellationToken) => _semaphore.WaitAsync(cancellationToken);

    /// <summary>Lets the next writer in; true when one was waiting (a hint, read without a lock: nothing depends on it being exact).</summary>
    public bool Release()
    {
        _semaphore.Release();
        return _semaphore.CurrentCount == 0;
    }

    public void Dispose() => _semaphore.Dispose();
}
