using System.Data.Common;
using System.Runtime.CompilerServices;
using Fahrtenbuch.Server.Setup;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using SQLitePCL;

namespace Fahrtenbuch.Server.Infrastructure;

public static class Database
{
    public const string ConnectionName = "Fahrtenbuch";

    public static IServiceCollection AddDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<CompanyScope>();

        services.AddSessionKeys(configuration);
        // The provider decides the context type only, and so which migration set applies; all code injects AppDbContext.
        var provider = configuration.GetValue(DatabaseOptions.Section + ":" + nameof(DatabaseOptions.Provider), DatabaseProvider.Sqlite);
        var connectionString = configuration.GetConnectionString(ConnectionName);
        if (provider == DatabaseProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException($"Database:Provider is Postgres but ConnectionStrings:{ConnectionName} is empty.");
            }

            services.AddPooledDbContextFactory<PostgresAppDbContext>(options => options.UseNpgsql(connectionString));
            services.AddScoped<AppDbContext>(sp => Rent<PostgresAppDbContext>(sp));
        }
        else
        {
            services.AddPooledDbContextFactory<SqliteAppDbContext>((sp, options) =>
            {
                var storage = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
                var sqlite = connectionString;
                if (string.IsNullOrWhiteSpace(sqlite))
                {
                    Directory.CreateDirectory(storage.DataDirectory);
                    sqlite = new SqliteConnectionStringBuilder
                    {
                        DataSource = Path.Combine(storage.DataDirectory, "fahrtenbuch.db"),
                        DefaultTimeout = 30,
                        Pooling = true,
                    }.ToString();
                }

                options.UseSqlite(sqlite).AddInterceptors(SqliteConnectionsWithoutEfFunctions.Instance, SqlitePragmas.Instance, SqliteStatementReuse.Instance);
            });
            services.AddScoped<AppDbContext>(sp => Rent<SqliteAppDbContext>(sp));
        }

        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return services;
    }

    /// <summary>
    /// A context from the pool, bound to this scope's company. Pooling saves building the options and EF's internal service
    /// scope on every request (a fifth of the CPU of a trip write went to dependency resolution); the scope disposes the
    /// context, which returns it to the pool.
    /// </summary>
    private static AppDbContext Rent<TContext>(IServiceProvider services)
        where TContext : AppDbContext =>
        services.GetRequiredService<IDbContextFactory<TContext>>().CreateDbContext().For(services.GetRequiredService<CompanyScope>());

    /// <summary>
    /// The <c>migrate</c> command (<c>dotnet Fahrtenbuch.Server.dll migrate</c>): applies pending migrations and exits,
    /// so an upgrade can change the schema once before any new instance starts.
    /// </summary>
    public static async Task MigrateDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await db.Database.MigrateAsync();
        await UseWriteAheadLogAsync(db);
        SessionKeys.EnsureKey(app.Services);
        var applied = await db.Database.GetAppliedMigrationsAsync();
        app.Logger.LogInformation("The {Provider} database schema is current at migration {Migration}", db.Database.ProviderName, applied.LastOrDefault());
    }

    /// <summary>
    /// Applies migrations (or, with <c>Database:MigrateOnStart=false</c>, refuses a database that is behind), then seeds
    /// the demo tenants (Development) or opens first-run setup (empty database).
    /// </summary>
    public static async Task PrepareDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        if (app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value.MigrateOnStart)
        {
            await db.Database.MigrateAsync();
        }
        else if ((await db.Database.GetPendingMigrationsAsync()).Any())
        {
            throw new InvalidOperationException(
                "The database schema is behind this version and Database:MigrateOnStart is false: run 'Fahrtenbuch.Server migrate' first.");
        }

        await UseWriteAheadLogAsync(db);

        // The first session key now, not by the first sign-ins racing each other to create one.
        SessionKeys.EnsureKey(app.Services);

        if (app.Configuration.GetValue("Seed:Demo", app.Environment.IsDevelopment()))
        {
            await DemoData.SeedAsync(app.Services, CancellationToken.None);
        }

        if (!await db.Users.AnyAsync())
        {
            var token = app.Services.GetRequiredService<SetupToken>().Open();
            app.Logger.LogWarning(
                "No users exist yet. Create the first company and fleet manager with POST /api/setup and this one-time setup token: {SetupToken}",
                token);
        }
    }

    private static async Task UseWriteAheadLogAsync(AppDbContext db)
    {
        if (db.Database.IsSqlite())
        {
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }
    }
}

/// <summary>
/// Creates the SQLite connections EF opens for queries, without the SQL functions EF's SQLite provider would register on them
/// (<c>regexp</c>, the <c>ef_*</c> decimal arithmetic and aggregates, the <c>EF_DECIMAL</c> collation).
/// </summary>
/// <remarks>
/// Microsoft.Data.Sqlite registers a connection's functions with SQLite on every open of a pooled handle and removes them
/// on every close, and EF opens and closes its connection around every query: about a fifth of the bytes an EF read
/// request allocated went to that (docs/benchmarks.md, 2026-12-08). The model needs none of them: it has no decimal
/// column (<c>SqliteConnectionTests</c> keeps that so), and no query matches a regular expression, takes a remainder of a
/// floating-point value or computes in decimals. A query that did would fail with "no such function" in the tests that
/// run it. The connection string is EF's own; the connection is EF's to open, close and dispose as one it created.
/// </remarks>
internal sealed class SqliteConnectionsWithoutEfFunctions : DbConnectionInterceptor
{
    public static readonly SqliteConnectionsWithoutEfFunctions Instance = new();

    public override InterceptionResult<DbConnection> ConnectionCreating(ConnectionCreatingEventData eventData, InterceptionResult<DbConnection> result) =>
        result.HasResult ? result : InterceptionResult<DbConnection>.SuppressWithResult(new SqliteConnection(eventData.ConnectionString));
}

/// <summary>Per-connection SQLite settings: WAL-friendly durability and a busy wait instead of immediate lock errors.</summary>
internal sealed class SqlitePragmas : DbConnectionInterceptor
{
    public static readonly SqlitePragmas Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    // The database handles already set up. A pooled SqliteConnection keeps its handle, and with it these settings, while
    // EF opens and closes the connection around every query and transaction; the weak table forgets a closed handle.
    private static readonly ConditionalWeakTable<sqlite3, object> Configured = [];
    private static readonly object Done = new();

    internal static void Apply(DbConnection connection)
    {
        if (connection is SqliteConnection { Handle: { } handle } && !Configured.TryGetValue(handle, out _))
        {
            using var command = connection.CreateCommand();
            // FULL: a commit is on disk before the write answers, so an acknowledged trip survives a power loss (NORMAL, in WAL
            // mode, may lose the last commits). Writes that queue up share one commit and its sync (SqliteWriteGate): measured
            // at most 5 % of the write rate (docs/benchmarks.md).
            command.CommandText = "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
            command.ExecuteNonQuery();
            Configured.TryAdd(handle, Done);
        }
    }
}

internal sealed class DatabaseHealthCheck(AppDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await db.Database.CanConnectAsync(cancellationToken)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The database cannot be reached.");
}
