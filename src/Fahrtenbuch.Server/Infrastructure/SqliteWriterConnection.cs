using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// The one long-lived connection a SQLite file's logged writes run on (see <c>SqliteWriteGate</c>), which keeps the
/// statements it has run prepared. Microsoft.Data.Sqlite prepares a command's SQL when it first runs and finalizes it when
/// the command is disposed, and EF creates and disposes a command per query and per save: on the write path, under the
/// write lock, SQLite parsed and planned the same dozen statements again for every write (docs/benchmarks.md).
/// </summary>
/// <remarks>Used by one writer at a time, like any connection; a text already in use (a nested reader) gets a plain command.</remarks>
public sealed class SqliteWriterConnection(string connectionString) : SqliteConnection(connectionString)
{
    /// <summary>Distinct statements kept; the write path uses a few dozen, so this only bounds a pathological caller.</summary>
    public const int MaxStatements = 512;

    private readonly Dictionary<string, ReusableCommand> _statements = new(StringComparer.Ordinal);

    /// <summary>The statements this connection keeps prepared: every distinct SQL text the logged writes have run on it.</summary>
    public IReadOnlyCollection<string> Statements => _statements.Keys;

    /// <summary>A command for <paramref name="sql"/> that keeps its prepared statements when disposed, or null (see remarks).</summary>
    public SqliteCommand? Rent(string sql)
    {
        if (!_statements.TryGetValue(sql, out var command))
        {
            if (_statements.Count >= MaxStatements)
            {
                return null;
            }

            command = new ReusableCommand(sql, this);
            _statements.Add(sql, command);
        }

        if (command.InUse)
        {
            return null;
        }

        command.InUse = true;
        return command;
    }

    /// <summary>A command for <paramref name="sql"/> in <paramref name="transaction"/>: kept prepared on a writer connection.</summary>
    public static DbCommand Create(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = (connection as SqliteWriterConnection)?.Rent(sql) ?? connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var command in _statements.Values)
            {
                command.Retire();
            }

            _statements.Clear();
        }

        base.Dispose(disposing);
    }

    private sealed class ReusableCommand(string sql, SqliteConnection connection) : SqliteCommand(sql, connection)
    {
        private bool _retired;

        public bool InUse { get; set; }

        public void Retire()
        {
            _retired = true;
            Dispose();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_retired)
            {
                // Back to the connection's set, statements still prepared; the parameters were this use's.
                Parameters.Clear();
                Transaction = null;
                InUse = false;
                return;
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>Runs EF's commands on a <see cref="SqliteWriterConnection"/> through its prepared statements.</summary>
internal sealed class SqliteStatementReuse : DbCommandInterceptor
{
    public static readonly SqliteStatementReuse Instance = new();

    public override DbCommand CommandInitialized(CommandEndEventData eventData, DbCommand result)
    {
        if (result.Connection is not SqliteWriterConnection writer || writer.Rent(result.CommandText) is not { } reused)
        {
            return result;
        }

        reused.Transaction = (SqliteTransaction?)result.Transaction;
        reused.CommandTimeout = result.CommandTimeout;
        while (result.Parameters.Count > 0)
        {
            var parameter = result.Parameters[0];
            result.Parameters.RemoveAt(0);
            reused.Parameters.Add(parameter);
        }

        result.Dispose();
        return reused;
    }
}
