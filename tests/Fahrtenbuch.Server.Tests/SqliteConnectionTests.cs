using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>Every SQLite connection the server opens runs with its settings: on a new handle and on one the pool hands out again.</summary>
public sealed class SqliteConnectionTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task OpenedConnections_NewOrPooled_HaveTheServersSettings()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "SQLite connection settings only.");
        for (var round = 0; round < 4; round++)
        {
            if (round == 2)
            {
                // From here on the pool must open new handles.
                SqliteConnection.ClearAllPools();
            }

            var (synchronous, busyTimeout) = await app.QueryAsync(async db => (await PragmaAsync(db, "synchronous"), await PragmaAsync(db, "busy_timeout")));
            Assert.Equal(2, synchronous); // FULL: a commit is on disk before the write answers
            Assert.Equal(30_000, busyTimeout);
        }
    }

    [Fact]
    public async Task LoggedWrites_RunOnTheWriterConnection_WithTheServersSettingsAndItsCache()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "SQLite connection settings only.");
        var foreignKeys = await app.QueryAsync(db => PragmaAsync(db, "foreign_keys"));
        Assert.Equal(1, foreignKeys);

        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(TestContext.Current.CancellationToken));
        await using var scope = app.CompanyScope(company);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await using (var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(TestContext.Current.CancellationToken))
        {
            Assert.IsType<SqliteWriterConnection>(db.Database.GetDbConnection());
            var pragmas = new Dictionary<string, long>();
            foreach (var name in new[] { "synchronous", "busy_timeout", "foreign_keys", "cache_size", "temp_store" })
            {
                await using var command = db.Database.GetDbConnection().CreateCommand();
                command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
                command.CommandText = $"PRAGMA {name}";
                pragmas[name] = Convert.ToInt64(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken), System.Globalization.CultureInfo.InvariantCulture);
            }

            Assert.Equal(2, pragmas["synchronous"]);
            Assert.Equal(30_000, pragmas["busy_timeout"]);
            Assert.Equal(foreignKeys, pragmas["foreign_keys"]);
            Assert.Equal(-65_536, pragmas["cache_size"]);
            Assert.Equal(2, pragmas["temp_store"]); // MEMORY
        }

        // The turn is over: the request's context is back on a connection of its own.
        Assert.IsNotType<SqliteWriterConnection>(db.Database.GetDbConnection());
    }

    [Fact]
    public async Task QueryConnections_CarryNoFunctionOfEfs_SoAnOpenRegistersNone()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "SQLite connections only.");
        var error = await app.QueryAsync(async db =>
        {
            await db.Database.OpenConnectionAsync(TestContext.Current.CancellationToken);
            try
            {
                await using var command = db.Database.GetDbConnection().CreateCommand();
                command.CommandText = "SELECT ef_add(1, 2)";
                return await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
        });
        Assert.Contains("no such function: ef_add", error.Message);
    }

    [Fact]
    public async Task TheModel_NeedsNoFunctionEfRegistersOnlyOnItsOwnConnections()
    {
        // No connection of the server registers EF's ef_* decimal functions: not the writer (SqliteWriteGate), not the ones
        // EF opens for queries (SqliteConnectionsWithoutEfFunctions).
        var decimals = await app.QueryAsync(db => Task.FromResult(db.Model.GetEntityTypes().SelectMany(t => t.GetProperties())
            .Where(p => Nullable.GetUnderlyingType(p.ClrType) == typeof(decimal) || p.ClrType == typeof(decimal))
            .Select(p => $"{p.DeclaringType.DisplayName()}.{p.Name}").ToList()));
        Assert.Empty(decimals);
    }

    private static async Task<long> PragmaAsync(AppDbContext db, string name)
    {
        await db.Database.OpenConnectionAsync(TestContext.Current.CancellationToken);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = $"PRAGMA {name}";
            return Convert.ToInt64(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
