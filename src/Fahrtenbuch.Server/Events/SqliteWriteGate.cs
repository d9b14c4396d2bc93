using System.Collections.Concurrent;
using System.Diagnostics;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Events;

/// <summary>
/// Queues this process's logged writes to a SQLite file one at a time, and lets writes that queue up behind each other
/// commit together (group commit, docs/adr/0009-sqlite-single-writer-group-commit.md).
/// </summary>
/// <remarks>
/// A write that gets its turn borrows the gate's one long-lived connection and the group's open transaction, and runs
/// inside a savepoint of its own: when it fails, only its own changes are rolled back and the group goes on. When a
/// write is done and others are waiting, it hands its turn on without committing and waits for the group's commit
/// before it answers, so a response still means durable. The last write of a group (nobody waiting, or the group has
/// reached its bounds in <see cref="DatabaseOptions"/>) commits it and then publishes every write's events
/// in log order, still holding the turn, so the live feed sees each company's events in position order.
/// </remarks>
public sealed partial class SqliteWriteGate(IOptions<DatabaseOptions> options, ILogger<SqliteWriteGate> logger) : IDisposable
{
    // What a write waits for beyond its own turn: the writes after it in the same group (DatabaseOptions).
    private readonly int _maxGroupWrites = options.Value.GroupCommitMaxWrites;
    private readonly TimeSpan _maxGroupAge = TimeSpan.FromMilliseconds(options.Value.GroupCommitMaxAgeMilliseconds);

    private readonly SemaphoreSlim _turn = new(1, 1);
    private int _waiting;

    // Owned by whoever holds the turn.
    private SqliteWriterConnection? _connection;
    private SqliteCommand? _savepoint;
    private SqliteCommand? _release;
    private SqliteCommand? _rollbackTo;
    private Group? _group;

    // Connections the drafts of writes run ahead of the lock read on (EventLog.WriteAheadAsync): kept open, so their
    // statements stay prepared as the writer's do. At most this many wait idle (as many as writers commonly overlap); more
    // are opened while more drafts run at once, and closed after.
    private const int MaxIdleDraftConnections = 16;
    private readonly ConcurrentBag<SqliteWriterConnection> _draftConnections = [];

    /// <summary>The statements the draft connections keep prepared: what drafts have run (for the query-plan test).</summary>
    internal IReadOnlyCollection<string> DraftStatements => _draftConnections.SelectMany(c => c.Statements).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Runs <paramref name="draft"/> with <paramref name="db"/> on a read-only connection of its own, in one read
    /// transaction: every read of the draft sees the same committed state. Not under the write lock.
    /// </summary>
    internal async Task<T> DraftAsync<T>(AppDbContext db, Func<Task<T>> draft, CancellationToken cancellationToken)
    {
        var connectionString = db.Database.GetConnectionString()!;
        if (!_draftConnections.TryTake(out var connection))
        {
            connection = OpenDraftConnection(connectionString);
        }

        var keep = false;
        try
        {
            db.Database.SetDbConnection(connection, contextOwnsConnection: false);
            await using (var snapshot = connection.BeginTransaction(deferred: true))
            {
                await db.Database.UseTransactionAsync(snapshot, cancellationToken);
                var result = await draft();
                await snapshot.RollbackAsync(CancellationToken.None);
                keep = true;
                return result;
            }
        }
        catch (DomainException)
        {
            // A refusal: the snapshot was rolled back, the connection is as good as before.
            keep = true;
            throw;
        }
        finally
        {
            db.Database.UseTransaction(null);
            db.Database.SetDbConnection(null, contextOwnsConnection: true);
            db.Database.SetConnectionString(connectionString);
            if (keep && _draftConnections.Count < MaxIdleDraftConnections)
            {
                _draftConnections.Add(connection);
            }
            else
            {
                await connection.DisposeAsync();
            }
        }
    }

    private static SqliteWriterConnection OpenDraftConnection(string connectionString)
    {
        // Not from Microsoft.Data.Sqlite's pool, and never back into it: a handle set read-only there would be handed to the
        // next connection opened with the server's connection string (a login's write, or this gate's writer). The gate keeps
        // its own idle draft connections instead.
        var connection = new SqliteWriterConnection(new SqliteConnectionStringBuilder(connectionString) { Pooling = false }.ToString());
        try
        {
            connection.Open();
            SqlitePragmas.Apply(connection);
            using var pragma = connection.CreateCommand();
            // A draft only reads; a write by mistake fails here instead of waiting for the writer's lock.
            pragma.CommandText = "PRAGMA query_only=1;";
            pragma.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits for this write's turn, then moves <paramref name="db"/> onto the group's connection and transaction inside a
    /// savepoint. The caller must end its turn with <see cref="CommitAsync"/> or
    /// <see cref="AbandonAsync"/>.
    /// </summary>
    internal async Task<Turn> EnterAsync(AppDbContext db, CancellationToken cancellationToken)
    {
        // Not cancelled while queued: a writer that left the queue after being counted would strand the group it was
        // handed (the writes in it wait for their commit). The wait is bounded by the writes ahead; a cancelled request
        // leaves right after its turn starts.
        Interlocked.Increment(ref _waiting);
        try
        {
            await _turn.WaitAsync(CancellationToken.None);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        var turn = new Turn(db.Database.GetConnectionString()!, Stopwatch.GetTimestamp(), ThreadCpuTime.Now());
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            _connection ??= OpenConnection(turn.ConnectionString);
            _group ??= new Group(_connection.BeginTransaction(), Stopwatch.GetTimestamp());
            db.Database.SetDbConnection(_connection, contextOwnsConnection: false);
            turn.Attached = true;
            await db.Database.UseTransactionAsync(_group.Transaction, cancellationToken);
            db.Database.AutoSavepointsEnabled = false;
            Execute(_savepoint!);
            turn.InSavepoint = true;
            turn.Carried = _group.Carried;
            return turn;
        }
        catch
        {
            await AbandonAsync(db, turn);
            throw;
        }
    }

    /// <summary>
    /// Keeps this write's changes in the group and ends its turn. Returns once the group has committed; throws when the
    /// group's commit failed (nothing of this write was stored then). <paramref name="publish"/> runs after the commit.
    /// </summary>
    internal async Task CommitAsync(AppDbContext db, Turn turn, Action publish, IReadOnlyDictionary<(Type, Guid), object>? carry)
    {
        Task committed;
        try
        {
            Execute(_release!);
            turn.InSavepoint = false;
            if (carry is not null)
            {
                foreach (var (key, value) in carry)
                {
                    _group!.Carried[key] = value;
                }
            }

            _group!.Published.Add(publish);
            committed = _group.Committed.Task;
        }
        catch
        {
            await AbandonAsync(db, turn);
            throw;
        }

        try
        {
            Detach(db, turn);
        }
        finally
        {
            await EndTurnAsync(turn, throwOnCommitFailure: true);
        }

        // Handed on: the group commits after this write. The caller's cancellation does not apply, as it would leave the
        // caller not knowing whether its write was stored.
        await committed;
    }

    /// <summary>Rolls this write's changes back to its savepoint and ends its turn; the other writes of the group go on.</summary>
    internal async Task AbandonAsync(AppDbContext db, Turn turn)
    {
        try
        {
            if (turn.InSavepoint)
            {
                turn.InSavepoint = false;
                Execute(_rollbackTo!);
                Execute(_release!);
            }
        }
        catch
        {
            // The group's transaction is in an unknown state: the group fails as a whole (see EndTurnAsync).
            _group?.Poison();
        }

        try
        {
            Detach(db, turn);
        }
        finally
        {
            // The writes handed on to this one learn about a failed group commit from the group; this write has its own error.
            await EndTurnAsync(turn, throwOnCommitFailure: false);
        }
    }

    private async Task EndTurnAsync(Turn turn, bool throwOnCommitFailure)
    {
        var group = _group;
        var waiting = Volatile.Read(ref _waiting) > 0;
        Exception? failure = null;
        try
        {
            // The group's age is looked at when a turn ends: a finished write waits at most for the turns after it that
            // began within the group's age bound, each as long as its own write takes.
            if (group is not null && waiting && !group.Poisoned && group.Published.Count < _maxGroupWrites
                && Stopwatch.GetElapsedTime(group.Started) < _maxGroupAge)
            {
                return;
            }

            _group = null;
            if (group is not null)
            {
                failure = Finish(group);
            }
        }
        finally
        {
            // The CPU interval lies within the held one (begun after it, ended before it), so CPU never exceeds the hold.
            var cpuEnded = ThreadCpuTime.Now();
            Telemetry.WriteLockHeld.Record(Stopwatch.GetElapsedTime(turn.Started).TotalSeconds);
            if (turn.CpuStarted is { } cpuStarted && cpuEnded is { } cpuNow && Environment.CurrentManagedThreadId == turn.ThreadId)
            {
                Telemetry.WriteLockCpu.Record((cpuNow - cpuStarted) / 1e9);
            }

            _turn.Release();
            // Only a committed and published group answers; a group handed on is still open.
            if (group is { Succeeded: true } && waiting)
            {
                // The group's writes answer from the global queue. Completed here, their continuations would go on this
                // thread's local queue after the next writer's (queued by the release), and a thread runs its local queue
                // last in, first out: the next writer would wait for every answer of the group. Cycle minus hold per write
                // 0.04-0.06 -> 0.03-0.04 ms (docs/benchmarks.md, 2026-12-08, day).
                ThreadPool.UnsafeQueueUserWorkItem(static group => group.Committed.TrySetResult(), group, preferLocal: false);
            }
            else if (group is { Succeeded: true })
            {
                // Nobody waits for the turn: the answers go first.
                group.Committed.TrySetResult();
            }
        }

        if (failure is not null && throwOnCommitFailure)
        {
            throw failure;
        }

        if (waiting)
        {
            // The next writer's continuation was queued on this thread's local queue, behind the rest of this request (its
            // response), until an idle worker was woken to steal it. Moving the rest of this request to the global queue lets
            // this thread run the next writer at once: the lock cycle's part outside the lock fell from 0.15-0.21 ms to
            // 0.07-0.11 ms per write under load (docs/benchmarks.md).
            await Task.Yield();
        }
    }

    /// <summary>Commits the group (or rolls back one without a kept write) and publishes its writes in order.</summary>
    private Exception? Finish(Group group)
    {
        try
        {
            if (group.Poisoned || group.Published.Count == 0)
            {
                group.Transaction.Rollback();
            }
            else
            {
                group.Transaction.Commit();
                Telemetry.WriteGroupSize.Record(group.Published.Count);
            }
        }
        catch (Exception e)
        {
            group.Poison();
            group.Committed.TrySetException(new InvalidOperationException("The write could not be committed.", e));
            try
            {
                group.Transaction.Dispose();
            }
            catch (SqliteException)
            {
                // The connection is reopened below.
            }

            ResetConnection();
            return e;
        }

        group.Transaction.Dispose();
        if (group.Poisoned)
        {
            group.Committed.TrySetException(new InvalidOperationException("The write could not be committed: a write before it in the same transaction failed to roll back."));
            return group.Committed.Task.Exception!.InnerException;
        }

        try
        {
            foreach (var publish in group.Published)
            {
                try
                {
                    publish();
                }
                catch (Exception e)
                {
                    // The write is committed and answers success; a live subscriber that missed its events resumes from
                    // the log. What must not happen is that the writes after it are never published or never answered.
                    LogPublishFailed(e);
                }
            }
        }
        finally
        {
            // The group's writes answer once the turn is free (EndTurnAsync), behind the next writer.
            group.Succeeded = true;
        }

        return null;
    }

    private static void Detach(AppDbContext db, Turn turn)
    {
        if (!turn.Attached)
        {
            return;
        }

        turn.Attached = false;
        db.Database.UseTransaction(null);
        db.Database.AutoSavepointsEnabled = true;
        db.Database.SetDbConnection(null, contextOwnsConnection: true);
        db.Database.SetConnectionString(turn.ConnectionString);
    }

    /// <remarks>
    /// EF's own SQLite functions (<c>regexp</c>, the <c>ef_*</c> decimal arithmetic) are not registered here, as on no
    /// connection of the server (<see cref="SqliteConnectionsWithoutEfFunctions"/>): no query may need them (the model has
    /// no decimal column, which a test keeps so).
    /// </remarks>
    private SqliteWriterConnection OpenConnection(string connectionString)
    {
        var connection = new SqliteWriterConnection(connectionString);
        try
        {
            connection.Open();
            SqlitePragmas.Apply(connection);
            using (var pragma = connection.CreateCommand())
            {
                // This connection is the file's only writer in this process, so its page cache stays valid from one write
                // to the next (a connection drops its cache whenever another one changed the file): 64 MiB keep the hot
                // pages of tables and indexes, and the pages a savepoint must be able to restore stay in memory instead of
                // a temporary file. Together 1,200-1,300 -> 1,550-1,950 write events/s (docs/benchmarks.md).
                pragma.CommandText = "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";
                pragma.ExecuteNonQuery();
            }

            _savepoint = Command(connection, "SAVEPOINT logged_write");
            _release = Command(connection, "RELEASE logged_write");
            _rollbackTo = Command(connection, "ROLLBACK TO logged_write");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    private void Execute(SqliteCommand command)
    {
        command.Transaction = _group!.Transaction;
        command.ExecuteNonQuery();
    }

    private void ResetConnection()
    {
        _savepoint?.Dispose();
        _release?.Dispose();
        _rollbackTo?.Dispose();
        _connection?.Dispose();
        (_savepoint, _release, _rollbackTo, _connection) = (null, null, null, null);
    }

    [LoggerMessage(LogLevel.Error, "Publishing a committed write's events failed; live subscribers resume them from the log")]
    private partial void LogPublishFailed(Exception exception);

    public void Dispose()
    {
        while (_draftConnections.TryTake(out var connection))
        {
            connection.Dispose();
        }

        ResetConnection();
        _turn.Dispose();
    }

    /// <summary>One write's turn: what it must undo on its context when the turn ends.</summary>
    internal sealed class Turn(string connectionString, long started, long? cpuStarted)
    {
        public string ConnectionString { get; } = connectionString;

        public long Started { get; } = started;

        /// <summary>The thread's CPU time in nanoseconds when the turn began (<see cref="ThreadCpuTime"/>), on this thread.</summary>
        public long? CpuStarted { get; } = cpuStarted;

        public int ThreadId { get; } = Environment.CurrentManagedThreadId;

        public bool Attached { get; set; }

        public bool InSavepoint { get; set; }

        /// <summary>State the writes before this one in the same transaction left for the writes after them.</summary>
        public IReadOnlyDictionary<(Type, Guid), object>? Carried { get; set; }
    }

    private sealed class Group(SqliteTransaction transaction, long started)
    {
        public SqliteTransaction Transaction { get; } = transaction;

        public long Started { get; } = started;

        public List<Action> Published { get; } = [];

        public Dictionary<(Type, Guid), object> Carried { get; } = [];

        public TaskCompletionSource Committed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Committed and published: its writes are answered as soon as the turn is free.</summary>
        public bool Succeeded { get; set; }

        public bool Poisoned { get; private set; }

        public void Poison() => Poisoned = true;
    }
}

/// <summary>The calling thread's CPU time (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>); null elsewhere.</summary>
internal static class ThreadCpuTime
{
    private const int ClockThreadCpuTimeId = 3;

    /// <summary>Nanoseconds of CPU the calling thread has used, or null when the platform does not say.</summary>
    public static long? Now() => OperatingSystem.IsLinux() && ClockGetTime(ClockThreadCpuTimeId, out var time) == 0
        ? (time.Seconds * 1_000_000_000) + time.Nanoseconds
        : null;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clockId, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
