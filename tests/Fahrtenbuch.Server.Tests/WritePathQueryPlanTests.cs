using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// Every query a trip write runs under the SQLite write lock finds its rows through an index that holds only the rows that
/// can match: a statement that walks a table, or a car's or driver's whole trip history, makes every write slower as the
/// logbook grows, and the write lock turns that into the whole server's write rate.
/// </summary>
public sealed partial class WritePathQueryPlanTests(AppFactory app) : IClassFixture<AppFactory>
{
    // Indexes over all trips of a car or a driver: right for listing a history, wrong for a write's look-ups.
    private static readonly string[] HistoryIndexes = ["IX_Trips_CompanyId_VehicleId_StartedAt", "IX_Trips_CompanyId_DriverId_StartedAt"];

    [Fact]
    public async Task TripWrites_LookUpRowsByIndex_NeverByWalkingATableOrATripHistory()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "The plans are SQLite's; PostgreSQL plans by its statistics.");
        var cancellationToken = TestContext.Current.CancellationToken;
        var chef = await app.LoginAsync("chef@demo.local");
        var created = await chef.PostAsJsonAsync("/api/vehicles", new { plate = "M QP 1", name = "Plans", initialOdometer = 100 }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var vehicle = (await created.Content.ReadFromJsonAsync<VehicleResponse>(TestJson.Options, cancellationToken))!;

        // The writes whose statements are looked at: starts, completions (with the overlap check), a cancellation.
        var odometer = 100;
        for (var i = 0; i < 3; i++)
        {
            var started = await chef.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle.Id }, cancellationToken);
            Assert.Equal(HttpStatusCode.Created, started.StatusCode);
            var trip = (await started.Content.ReadFromJsonAsync<TripResponse>(TestJson.Options, cancellationToken))!;
            odometer += 10;
            var completed = i < 2
                ? await chef.PostAsJsonAsync($"/api/trips/{trip.Id}/complete", new { endOdometer = odometer, category = "private" }, cancellationToken)
                : await chef.PostAsJsonAsync($"/api/trips/{trip.Id}/cancel", new { reason = "Doch nicht" }, cancellationToken);
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        }

        // A trip entered afterwards (overlap check on a time window), then corrected and voided.
        var now = DateTimeOffset.UtcNow;
        var late = await chef.PostAsJsonAsync("/api/trips/late", new
        {
            vehicleId = vehicle.Id, startedAt = now.AddDays(-2), endedAt = now.AddDays(-2).AddHours(1), startOdometer = odometer, endOdometer = odometer + 5, category = "private",
        }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, late.StatusCode);
        var lateTrip = (await late.Content.ReadFromJsonAsync<TripResponse>(TestJson.Options, cancellationToken))!;
        Assert.Equal(HttpStatusCode.OK, (await chef.PostAsJsonAsync($"/api/trips/{lateTrip.Id}/revisions", new { reason = "Ziel ergänzt", destination = "Ulm" }, cancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await chef.PostAsJsonAsync($"/api/trips/{lateTrip.Id}/void", new { reason = "Doppelt" }, cancellationToken)).StatusCode);

        var company = await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Where(v => v.Id == vehicle.Id).Select(v => v.CompanyId).SingleAsync(cancellationToken));
        await using var scope = app.CompanyScope(company);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await using var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(cancellationToken);
        var connection = Assert.IsType<SqliteWriterConnection>(db.Database.GetDbConnection());

        // Starts, completions and cancellations read ahead of the lock (EventLog.WriteAheadAsync), and read the same again
        // under it when what they read changed meanwhile: their statements count as much as the writer's own.
        var drafted = scope.ServiceProvider.GetRequiredService<SqliteWriteGate>().DraftStatements;
        Assert.NotEmpty(drafted);
        var queries = connection.Statements.Concat(drafted).Distinct(StringComparer.Ordinal)
            .Where(s => s.Contains("SELECT", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.Contains(queries, q => q.Contains("UNION", StringComparison.Ordinal)); // the overlap check
        Assert.Contains(queries, q => q.Contains("FROM \"Users\"", StringComparison.Ordinal)); // the names
        Assert.Contains(queries, q => q.Contains("SELECT \"CompanyId\" FROM \"Trips\"", StringComparison.Ordinal)); // a new id's owner
        Assert.Contains(queries, q => q.Contains("\"DriverId\" = @driver AND \"State\" = 'Active'", StringComparison.Ordinal)); // the driver's active trip
        Assert.Contains(queries, q => q.Contains("\"StartedAt\" DESC", StringComparison.Ordinal)); // another active trip on the car
        Assert.Contains(queries, q => q.Contains("\"StartOdometer\" FROM \"Trips\"", StringComparison.Ordinal)); // who is on the car, for the board row

        var offending = new List<string>();
        foreach (var sql in queries)
        {
            var plan = await PlanAsync(connection, db.Database.CurrentTransaction!.GetDbTransaction(), sql);
            // "SCAN x" walks every row of x (through an index too), unless x is a subquery's own result (a co-routine or a
            // materialized view of at most the rows the subquery found) or SQLite's one constant row.
            var subqueries = plan.Select(step => Subquery().Match(step)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            var bad = plan.Where(step =>
                (Scan().Match(step) is { Success: true } scan && scan.Groups[1].Value != "CONSTANT" && !subqueries.Contains(scan.Groups[1].Value))
                || HistoryIndexes.Any(index => step.Contains(index, StringComparison.Ordinal))).ToList();
            if (bad.Count > 0)
            {
                offending.Add($"{sql}\n  -> {string.Join("\n  -> ", plan)}");
            }
        }

        Assert.True(offending.Count == 0, "Statements of trip writes that walk rows which cannot match:\n\n" + string.Join("\n\n", offending));
    }

    private static async Task<List<string>> PlanAsync(SqliteWriterConnection connection, System.Data.Common.DbTransaction transaction, string sql)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = (Microsoft.Data.Sqlite.SqliteTransaction)transaction;
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (var name in Parameter().Matches(sql).Select(m => m.Value).Distinct(StringComparer.Ordinal))
        {
            command.Parameters.AddWithValue(name, DBNull.Value);
        }

        var steps = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            steps.Add(reader.GetString(3));
        }

        return steps;
    }

    [GeneratedRegex("""^SCAN (\S+)""")]
    private static partial Regex Scan();

    [GeneratedRegex("""^(?:CO-ROUTINE|MATERIALIZE) (\S+)""")]
    private static partial Regex Subquery();

    [GeneratedRegex("""[@$:][A-Za-z_][A-Za-z0-9_]*""")]
    private static partial Regex Parameter();
}
