using Fahrtenbuch.Server.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

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
            Assert.Equal(1, synchronous); // NORMAL: no fsync per commit in WAL mode
            Assert.Equal(30_000, busyTimeout);
        }
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
