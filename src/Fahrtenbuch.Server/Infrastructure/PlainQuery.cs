using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// A look-up written by hand, for the few that every trip write makes while it holds the write lock and that read a value
/// or two, not an entity: EF's query pipeline around such a statement (a new command per run, a diagnostics id from the
/// system's random source, the shaper) cost several times the statement itself (docs/benchmarks.md). Runs on the
/// context's connection and transaction, so inside a logged write on SQLite's writer connection with its statement kept
/// prepared (<see cref="SqliteWriterConnection"/>).
/// </summary>
/// <remarks>
/// The SQL names tables and columns as the EF model does (quoted, as both providers create them), like
/// <c>LogHeadCommand</c>. A query of company data must filter by the company itself: EF's query filters do not apply here.
/// Parameters are named as the statement spells them, with their <c>@</c>: Microsoft.Data.Sqlite looks a name without it up
/// under each of SQLite's three prefixes in turn (four look-ups and three new strings per parameter and run).
/// </remarks>
internal sealed class PlainQuery : IAsyncDisposable
{
    private readonly AppDbContext _db;
    private readonly DbCommand _command;
    private readonly bool _opened;

    private PlainQuery(AppDbContext db, DbCommand command, bool opened)
    {
        _db = db;
        _command = command;
        _opened = opened;
    }

    public static async Task<PlainQuery> CreateAsync(AppDbContext db, string sql, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        var opened = connection.State != System.Data.ConnectionState.Open;
        if (opened)
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
        }

        try
        {
            return new PlainQuery(db, SqliteWriterConnection.Create(connection, db.Database.CurrentTransaction?.GetDbTransaction(), sql), opened);
        }
        catch
        {
            if (opened)
            {
                await db.Database.CloseConnectionAsync();
            }

            throw;
        }
    }

    /// <summary>Binds an id as the provider stores it (SQLite: upper-case text, PostgreSQL: uuid).</summary>
    public PlainQuery Id(string name, Guid value)
    {
        _command.Parameters.Add(_db.IdMapping.CreateParameter(_command, Named(name), value));
        return this;
    }

    /// <summary>Binds an instant as the model stores it, through the model's value conversion.</summary>
    public PlainQuery Instant(string name, DateTimeOffset value)
    {
        _command.Parameters.Add(_db.InstantMapping.CreateParameter(_command, Named(name), value));
        return this;
    }

    public PlainQuery Long(string name, long value) => Value(name, value);

    public PlainQuery Int(string name, int value) => Value(name, value);

    private PlainQuery Value(string name, object value)
    {
        var parameter = _command.CreateParameter();
        parameter.ParameterName = Named(name);
        parameter.Value = value;
        _command.Parameters.Add(parameter);
        return this;
    }

    /// <summary>Reads an instant column written as <see cref="Instant"/> binds it, through the model's value conversion.</summary>
    public DateTimeOffset ReadInstant(DbDataReader reader, int ordinal)
    {
        var converter = _db.InstantMapping.Converter;
        if (converter is null)
        {
            return reader.GetFieldValue<DateTimeOffset>(ordinal);
        }

        var stored = converter.ProviderClrType == typeof(long) ? reader.GetInt64(ordinal) : (object)reader.GetFieldValue<DateTimeOffset>(ordinal);
        return (DateTimeOffset)converter.ConvertFromProvider(stored)!;
    }

    /// <summary>The id column of every row.</summary>
    public async Task<List<Guid>> IdsAsync(CancellationToken cancellationToken)
    {
        var ids = new List<Guid>();
        await using var reader = await _command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    public Task<object?> ScalarAsync(CancellationToken cancellationToken) => _command.ExecuteScalarAsync(cancellationToken);

    public Task<DbDataReader> ReaderAsync(CancellationToken cancellationToken) => _command.ExecuteReaderAsync(cancellationToken);

    /// <summary>The first row's id column, or null when there is no row.</summary>
    public async Task<Guid?> IdAsync(CancellationToken cancellationToken)
    {
        await using var reader = await _command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? reader.GetGuid(0) : null;
    }

    private static string Named(string name) =>
        name.StartsWith('@') ? name : throw new ArgumentException($"Name the parameter as the statement does, with its @: @{name}.", nameof(name));

    public async ValueTask DisposeAsync()
    {
        await _command.DisposeAsync();
        if (_opened)
        {
            await _db.Database.CloseConnectionAsync();
        }
    }
}
