using System.Net.Http.Json;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// On SQLite, logged writes that queue up behind each other commit in one transaction, each inside a savepoint of its own
/// (docs/adr/0009-sqlite-single-writer-group-commit.md). A response must still mean durable, and a failed write must
/// change nothing while the writes around it are kept.
/// </summary>
public sealed class SqliteGroupCommitTests(SqliteGroupCommitTests.NoAgeBoundAppFactory app) : IClassFixture<SqliteGroupCommitTests.NoAgeBoundAppFactory>
{
    /// <summary>A group here ends only when nobody waits: the steps of a test, not a busy machine's clock, decide the groups.</summary>
    public sealed class NoAgeBoundAppFactory : AppFactory
    {
        protected override Dictionary<string, string?> Settings => new() { ["Database:GroupCommitMaxAgeMilliseconds"] = "60000" };
    }

    [Fact]
    public async Task QueuedWrites_CommitTogether_AndTheOneThatFailsChangesNothing()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Group commit is SQLite's; PostgreSQL commits each write on its own.");
        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(Ct));
        var before = await HeadAsync(company);
        var sink = new RecordingSink();

        await using var scopeA = app.CompanyScope(company);
        await using var scopeB = app.CompanyScope(company);
        await using var scopeC = app.CompanyScope(company);
        await using var scopeD = app.CompanyScope(company);

        var a = await Log(scopeA, sink).BeginAsync(Ct);

        // Queued behind A before A is done, so A hands its turn on instead of committing.
        var queuedB = Log(scopeB, sink).BeginAsync(Ct);
        var queuedC = Log(scopeC, sink).BeginAsync(Ct);
        var queuedD = Log(scopeD, sink).BeginAsync(Ct);

        a.Append("test.grouped", new { writer = "a" });
        var committedA = a.CommitAsync(Ct);

        var b = await queuedB.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(before + 1, b.StartHead);
        b.Append("test.grouped", new { writer = "b" });
        await b.DisposeAsync();

        var c = await queuedC.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(before + 1, c.StartHead);
        c.Append("test.grouped", new { writer = "c" });
        var committedC = c.CommitAsync(Ct);

        var d = await queuedD.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // Nothing is answered, published or visible to another connection before the group commits.
        Assert.False(committedA.IsCompleted);
        Assert.False(committedC.IsCompleted);
        Assert.Empty(sink.Positions);
        Assert.Equal(before, await HeadAsync(company));

        d.Append("test.grouped", new { writer = "d" });
        await d.CommitAsync(Ct);
        await Task.WhenAll(committedA, committedC).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var events = await app.QueryAsync(db => db.Events.IgnoreQueryFilters()
            .Where(e => e.CompanyId == company && e.Position > before)
            .OrderBy(e => e.Position)
            .Select(e => new { e.Position, e.Data })
            .ToListAsync(Ct));
        Assert.Equal([before + 1, before + 2, before + 3], events.Select(e => e.Position));
        Assert.Equal(["a", "c", "d"], events.Select(e => System.Text.Json.JsonDocument.Parse(e.Data).RootElement.GetProperty("writer").GetString()));
        Assert.Equal(before + 3, await HeadAsync(company));

        // Published after the commit, in position order.
        Assert.Equal([before + 1, before + 2, before + 3], sink.Positions);
    }

    [Fact]
    public async Task AWriteThatFailsInAGroup_LeavesNoRowBehind_WhileTheWriteBeforeItIsKept()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Group commit is SQLite's; PostgreSQL commits each write on its own.");
        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(Ct));
        var before = await HeadAsync(company);
        await using var scopeA = app.CompanyScope(company);
        await using var scopeB = app.CompanyScope(company);

        var a = await Log(scopeA, new RecordingSink()).BeginAsync(Ct);
        var queuedB = Log(scopeB, new RecordingSink()).BeginAsync(Ct);
        a.Append("test.grouped", new { writer = "a" });
        var committedA = a.CommitAsync(Ct);

        // B gets the turn in A's transaction, changes a row, then fails: only its savepoint is rolled back.
        var b = await queuedB.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var db = scopeB.ServiceProvider.GetRequiredService<AppDbContext>();
        var vehicle = await db.Vehicles.OrderBy(v => v.Plate).FirstAsync(Ct);
        var name = vehicle.Name;
        vehicle.Update("B was here", assignedDriverId: null, changeAssignment: false, status: null);
        await db.SaveChangesAsync(Ct);
        b.Append("test.grouped", new { writer = "b" });
        await b.DisposeAsync();

        await committedA.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(before + 1, await HeadAsync(company));
        Assert.Equal(name, await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Where(v => v.Id == vehicle.Id).Select(v => v.Name).SingleAsync(Ct)));
    }

    [Fact]
    public async Task AFailingEventSink_NeitherStopsTheGroupNorTheWritesAfterIt()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Group commit is SQLite's; PostgreSQL commits each write on its own.");
        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(Ct));
        var before = await HeadAsync(company);
        await using var scopeA = app.CompanyScope(company);
        await using var scopeB = app.CompanyScope(company);
        await using var scopeC = app.CompanyScope(company);

        var a = await Log(scopeA, new ThrowingSink()).BeginAsync(Ct);
        var queuedB = Log(scopeB, new RecordingSink()).BeginAsync(Ct);
        a.Append("test.grouped", new { writer = "a" });
        var committedA = a.CommitAsync(Ct);
        var b = await queuedB.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        b.Append("test.grouped", new { writer = "b" });
        await b.CommitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // A's write is committed: its sink's failure is logged, and it answers success.
        await committedA.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await using var c = await Log(scopeC, new RecordingSink()).BeginAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        c.Append("test.grouped", new { writer = "c" });
        await c.CommitAsync(Ct);
        Assert.Equal(before + 3, await HeadAsync(company));
    }

    [Fact]
    public async Task ConcurrentTripWrites_KeepEveryVehiclesJournalChainIntact()
    {
        // Each write continues a vehicle's hash chain from the head the write before it left, which inside a group is not
        // committed yet (handed on with LogTransaction.Carry, or read back through the group's transaction): a chain
        // continued from a stale head would fail verification.
        var chef = await app.LoginAsync("chef@demo.local");
        var vehicles = (await chef.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options, Ct))!
            .Take(4).Select(v => v.Id).ToList();
        var entriesBefore = new Dictionary<Guid, int>();
        foreach (var vehicle in vehicles)
        {
            entriesBefore[vehicle] = (await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("entries").GetInt32();
        }

        const int tripsPerVehicle = 8;
        var trips = vehicles.SelectMany((vehicle, v) => Enumerable.Range(0, tripsPerVehicle).Select(i => (vehicle, v, i))).ToList();
        await Parallel.ForEachAsync(trips, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = Ct }, async (trip, _) =>
            await RecordAsync(chef, trip.vehicle, DateTimeOffset.UtcNow.AddDays(-20 + trip.i).AddMinutes(trip.v * 7), 700_000 + (trip.i * 100), 10));

        foreach (var vehicle in vehicles)
        {
            var verify = await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify");
            Assert.True(verify.GetProperty("valid").GetBoolean(), verify.ToString());
            Assert.Equal(entriesBefore[vehicle] + tripsPerVehicle, verify.GetProperty("entries").GetInt32());
        }
    }


    /// <summary>The scope's event log with the application's sinks and <paramref name="sink"/> after them.</summary>
    private static EventLog Log(AsyncServiceScope scope, IEventSink sink)
    {
        var services = scope.ServiceProvider;
        return new EventLog(
            services.GetRequiredService<AppDbContext>(), services.GetRequiredService<TimeProvider>(), [.. services.GetServices<IEventSink>(), sink],
            services.GetRequiredService<SqliteWriteGate>(), services.GetServices<ILogAppendHook>());
    }

    private sealed class ThrowingSink : IEventSink
    {
        public void Committed(Guid companyId, IReadOnlyList<EventRecord> events) => throw new InvalidOperationException("A sink that fails.");
    }

    private sealed class RecordingSink : IEventSink
    {
        private readonly List<long> _positions = [];

        public IReadOnlyList<long> Positions
        {
            get
            {
                lock (_positions)
                {
                    return [.. _positions];
                }
            }
        }

        public void Committed(Guid companyId, IReadOnlyList<EventRecord> events)
        {
            lock (_positions)
            {
                _positions.AddRange(events.Select(e => e.Position));
            }
        }
    }

    private Task<long> HeadAsync(Guid company) =>
        app.QueryAsync(db => db.Companies.Where(c => c.Id == company).Select(c => c.LogHead).SingleAsync(Ct));
}
