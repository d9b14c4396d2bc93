using System.Net;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// On SQLite, trip starts, completions and cancellations run their command ahead of the write lock against the committed
/// state, and under the lock keep that draft only when nothing it read changed meanwhile
/// (docs/adr/0010-trip-writes-ahead-of-the-lock.md). Here another write lands exactly between a draft and its lock.
/// </summary>
public sealed class WriteAheadTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AStartOfTheSameCar_BetweenDraftAndLock_IsSeen_AndTheDraftIsRedoneUnderTheLock()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's; PostgreSQL runs the command under the company's row lock.");
        var vehicle = await app.NewVehicleAsync();
        var (first, _, _, _) = await app.NewDriverAsync();
        var (_, secondId, _, _) = await app.NewDriverAsync();

        var runs = new List<bool>();

        // The draft found the car free; then someone else takes it and commits before the draft gets the lock.
        var refused = await Assert.ThrowsAsync<DomainException>(() =>
            StartWithAWriteBetweenAsync(secondId, new StartTripRequest(null, vehicle.Id, null, null, null), runs, () => first.StartTripAsync(vehicle.Id)));

        Assert.Equal("trip.vehicle-in-use", refused.Code);
        Assert.Equal([true, false], runs);
        var active = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.VehicleId == vehicle.Id && t.State == TripState.Active).Select(t => t.DriverId).ToListAsync(Ct));
        Assert.NotEqual(secondId, Assert.Single(active));
    }

    [Fact]
    public async Task AWriteOnAnotherCar_BetweenDraftAndLock_KeepsTheDraft_AtTheNextPositions()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's.");
        var vehicle = await app.NewVehicleAsync();
        var other = await app.NewVehicleAsync();
        var (first, _, _, _) = await app.NewDriverAsync();
        var (_, secondId, _, _) = await app.NewDriverAsync();
        var company = await CompanyOfAsync(secondId);
        long headBefore = 0;
        long headBetween = 0;

        var runs = new List<bool>();
        var outcome = await WriteAheadAsync(secondId, async (db, write, me) =>
        {
            runs.Add(write.IsDraft);
            headBefore = write.StartHead;
            var started = await TripCommands.StartAsync(db, write, me, new StartTripRequest(null, vehicle.Id, null, null, null), ConflictPolicy.Refuse, Ct);
            if (write.IsDraft)
            {
                await first.StartTripAsync(other.Id);
                headBetween = await HeadAsync(company);
            }

            return started;
        });

        Assert.Equal([true], runs);
        Assert.True(headBetween > headBefore, "the other write must have committed in between");

        // The draft's events follow the other write's, dense, each stamped after the one before it.
        var events = await app.QueryAsync(db => db.Events.IgnoreQueryFilters()
            .Where(e => e.CompanyId == company && e.Position > headBefore).OrderBy(e => e.Position)
            .Select(e => new { e.Position, e.Type, e.TripId, e.VehicleId, e.OccurredAt }).ToListAsync(Ct));
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => headBefore + i), events.Select(e => e.Position));
        Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.First.OccurredAt <= pair.Second.OccurredAt));
        var drafted = events.Where(e => e.Position > headBetween).ToList();
        Assert.Equal([EventTypes.TripStarted, EventTypes.VehicleStatus], drafted.Select(e => e.Type));
        Assert.Equal(outcome.Trip.Id, drafted[0].TripId);
        Assert.All(drafted, e => Assert.Equal(vehicle.Id, e.VehicleId));

        var stored = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.Id == outcome.Trip.Id, Ct));
        Assert.Equal(TripState.Active, stored.State);
        Assert.Equal(stored.Id, await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Where(v => v.Id == vehicle.Id).Select(v => v.ActiveTripId).SingleAsync(Ct)));

        // The journal chains the adopted write like any other.
        var chef = await app.As(TestApi.Chef);
        var verify = await chef.GetJsonAsync<System.Text.Json.JsonElement>($"/api/vehicles/{vehicle.Id}/journal/verify");
        Assert.True(verify.GetProperty("valid").GetBoolean(), verify.ToString());
    }

    [Fact]
    public async Task AnEventOfAnotherKind_BetweenDraftAndLock_RedoesTheDraft()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's.");
        var vehicle = await app.NewVehicleAsync();
        var (_, driverId, _, _) = await app.NewDriverAsync();
        var (_, bystander, _, _) = await app.NewDriverAsync();
        var chef = await app.As(TestApi.Chef);

        var runs = new List<bool>();

        // Nothing the draft read, but not a trip event: a trip write does not know what such a change means to it.
        var outcome = await StartWithAWriteBetweenAsync(driverId, new StartTripRequest(null, vehicle.Id, null, null, null), runs, async () =>
            Assert.Equal(HttpStatusCode.OK, (await chef.PostJsonAsync($"/api/users/{bystander}/disable", null)).StatusCode));

        Assert.Equal([true, false], runs);
        Assert.Equal(TripState.Active, (await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.Id == outcome.Trip.Id, Ct))).State);
        Assert.Equal(1, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().CountAsync(t => t.VehicleId == vehicle.Id, Ct)));
    }

    [Fact]
    public async Task ATripIdTakenByAnotherCompany_BetweenDraftAndLock_IsRefusedAsReused()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's.");
        var vehicle = await app.NewVehicleAsync();
        var (_, driverId, _, _) = await app.NewDriverAsync();
        var otherCompanysCar = await app.NewVehicleAsync(chef: TestApi.OtherChef);
        var otherChef = await app.As(TestApi.OtherChef);
        var id = Guid.CreateVersion7();

        var runs = new List<bool>();

        // Another company's log does not move this one's head: the id itself is looked up again.
        var refused = await Assert.ThrowsAsync<DomainException>(() =>
            StartWithAWriteBetweenAsync(driverId, new StartTripRequest(id, vehicle.Id, null, null, null), runs, () => otherChef.StartTripAsync(otherCompanysCar.Id, id: id)));

        Assert.Equal("request.id-reused", refused.Code);
        Assert.Equal([true, false], runs);
        Assert.Equal(otherCompanysCar.Id, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.Id == id).Select(t => t.VehicleId).SingleAsync(Ct)));
    }

    [Fact]
    public async Task DriversRacingForOneCar_OneGetsIt_TheOthersAreRefused_EveryRound()
    {
        const int Rounds = 8;
        const int Drivers = 4;
        var drivers = new List<HttpClient>();
        for (var i = 0; i < Drivers; i++)
        {
            drivers.Add((await app.NewDriverAsync()).Client);
        }

        for (var round = 0; round < Rounds; round++)
        {
            var vehicle = await app.NewVehicleAsync();
            var responses = await Task.WhenAll(drivers.Select(d => d.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, "Depot"))));
            Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
            foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            {
                await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.Conflict, "trip.vehicle-in-use");
            }

            Assert.Equal(1, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().CountAsync(t => t.VehicleId == vehicle.Id, Ct)));

            // Free the drivers for the next round.
            var winner = drivers[Array.FindIndex(responses, r => r.StatusCode == HttpStatusCode.Created)];
            var trip = await responses.Single(r => r.StatusCode == HttpStatusCode.Created).ReadAsync<TripResponse>();
            await winner.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(trip.StartOdometer + 5));
        }
    }

    [Fact]
    public async Task OneDriverStartingTwoCarsAtOnce_GetsOne_AndTheOtherIsRefused()
    {
        var (driver, driverId, _, _) = await app.NewDriverAsync();
        for (var round = 0; round < 6; round++)
        {
            var cars = new[] { await app.NewVehicleAsync(), await app.NewVehicleAsync() };
            var responses = await Task.WhenAll(cars.Select(c => driver.PostJsonAsync("/api/trips", new StartTripRequest(null, c.Id, null, null, "Depot"))));
            Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
            await ProblemAssert.IsProblemAsync(responses.Single(r => r.StatusCode != HttpStatusCode.Created), HttpStatusCode.Conflict, "trip.driver-has-active-trip");
            Assert.Equal(1, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().CountAsync(t => t.DriverId == driverId && t.State == TripState.Active, Ct)));
            var trip = await responses.Single(r => r.StatusCode == HttpStatusCode.Created).ReadAsync<TripResponse>();
            await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(trip.StartOdometer + 5));
        }
    }

    [Fact]
    public async Task TheSameStartSentTwiceAtOnce_CreatesOneTrip_AndAnswersTheRepeatWithIt()
    {
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var id = Guid.CreateVersion7();
        var responses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => driver.PostJsonAsync("/api/trips", new StartTripRequest(id, vehicle.Id, null, null, "Depot"))));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Created], responses.Select(r => r.StatusCode).Order());
        foreach (var response in responses)
        {
            Assert.Equal(id, (await response.ReadAsync<TripResponse>()).Id);
        }

        Assert.Equal(1, await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().CountAsync(t => t.VehicleId == vehicle.Id, Ct)));
    }

    [Fact]
    public async Task Drafts_RefusedRepeatedOrKept_LeaveNoReadSnapshotOpen_SoTheLogCanBeCheckpointedToItsStart()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's.");
        var vehicle = await app.NewVehicleAsync();
        var (driver, _, _, _) = await app.NewDriverAsync();
        var (other, _, _, _) = await app.NewDriverAsync();
        for (var i = 0; i < 3; i++)
        {
            var trip = await driver.StartTripAsync(vehicle.Id);
            await ProblemAssert.IsProblemAsync(
                await other.PostJsonAsync("/api/trips", new StartTripRequest(null, vehicle.Id, null, null, "Depot")), HttpStatusCode.Conflict, "trip.vehicle-in-use");
            Assert.Equal(HttpStatusCode.OK, (await driver.PostJsonAsync("/api/trips", new StartTripRequest(trip.Id, vehicle.Id, null, null, "Depot"))).StatusCode);
            await driver.CompleteTripAsync(trip.Id, TestApi.BusinessEnd(trip.StartOdometer + 3));
        }

        // A checkpoint that starts the log over needs every reader gone from it: one draft connection back in the pool with
        // its snapshot still open would keep the log growing for as long as the server runs.
        var file = Path.Combine(app.DataDirectory, "fahrtenbuch.db");
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var checkpoint = connection.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
        var busy = 1L;
        for (var attempt = 0; attempt < 50 && busy != 0; attempt++)
        {
            await using var reader = await checkpoint.ExecuteReaderAsync(Ct);
            Assert.True(await reader.ReadAsync(Ct));
            busy = reader.GetInt64(0);
            if (busy != 0)
            {
                await Task.Delay(100, Ct);
            }
        }

        Assert.Equal(0, busy);
        Assert.Equal(0, new FileInfo(file + "-wal").Length);
    }

    [Fact]
    public async Task ADraftThatFails_LeavesNoReadOnlyConnectionBehind_ForTheServersOtherWrites()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "Drafts ahead of the lock are SQLite's.");
        var vehicle = await app.NewVehicleAsync();
        var (_, driverId, _, _) = await app.NewDriverAsync();

        // Not a refusal: the draft's connection is closed rather than kept (as it is past the idle limit, or on a cancelled request).
        await Assert.ThrowsAsync<InvalidOperationException>(() => WriteAheadAsync<TripOutcome>(driverId, async (db, write, me) =>
        {
            await TripCommands.StartAsync(db, write, me, new StartTripRequest(null, vehicle.Id, null, null, null), ConflictPolicy.Refuse, Ct);
            throw new InvalidOperationException("A draft that fails.");
        }));

        // The next connection the server opens with its connection string must be able to write.
        var company = await CompanyOfAsync(driverId);
        await using var scope = app.CompanyScope(company);
        var connectionString = scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.GetConnectionString();
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString))
        {
            await connection.OpenAsync(Ct);
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA query_only";
            Assert.Equal(0L, await pragma.ExecuteScalarAsync(Ct));
        }

        var (driver, _, _, _) = await app.NewDriverAsync();
        await driver.StartTripAsync(vehicle.Id);
    }

    [Theory]
    [InlineData("refused in its draft")]
    [InlineData("refused under the lock")]
    [InlineData("cancelled after its draft")]
    public async Task AWriteThatFails_LeavesNothingTracked_ForTheNextWriteInTheSameScope(string how)
    {
        // One scope, as a SignalR hub call or a background job could hold it: a write that fails after its command changed
        // entities (here: started a trip), then a second write. The second must store its own change only.
        var vehicle = await app.NewVehicleAsync();
        var other = await app.NewVehicleAsync();
        var (_, driverId, _, _) = await app.NewDriverAsync();
        var company = await CompanyOfAsync(driverId);
        var me = new CurrentUser(driverId, company, UserRole.Driver, Guid.NewGuid());
        await using var scope = app.CompanyScope(company);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var log = scope.ServiceProvider.GetRequiredService<EventLog>();
        var failed = Guid.CreateVersion7();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        async Task<TripOutcome> Start(LogTransaction write)
        {
            var outcome = await TripCommands.StartAsync(db, write, me, new StartTripRequest(failed, vehicle.Id, null, null, null), ConflictPolicy.Refuse, Ct);
            if (how == "cancelled after its draft")
            {
                // The client leaves once the command has decided: the write gives up before (SQLite) or while (PostgreSQL) it commits.
                await cancel.CancelAsync();
                return outcome;
            }

            throw DomainException.Conflict("test.refused", "Refused after the trip was started.");
        }

        if (how == "refused under the lock")
        {
            await Assert.ThrowsAsync<DomainException>(async () =>
            {
                await using var write = await log.BeginAsync(Ct);
                await Start(write);
            });
        }
        else
        {
            await Assert.ThrowsAnyAsync<Exception>(() => log.WriteAheadAsync(Start, cancel.Token));
        }

        var second = await log.WriteAheadAsync(
            write => TripCommands.StartAsync(db, write, me, new StartTripRequest(null, other.Id, null, null, null), ConflictPolicy.Refuse, Ct), Ct);

        var stored = await app.QueryAsync(d => d.Trips.IgnoreQueryFilters().Where(t => t.DriverId == driverId).Select(t => t.Id).ToListAsync(Ct));
        Assert.Equal([second.Trip.Id], stored);
        Assert.Null(await app.QueryAsync(d => d.Vehicles.IgnoreQueryFilters().Where(v => v.Id == vehicle.Id).Select(v => v.ActiveTripId).SingleAsync(Ct)));
        var logged = await app.QueryAsync(d => d.Events.IgnoreQueryFilters().Where(e => e.TripId == failed).CountAsync(Ct));
        Assert.Equal(0, logged);
    }

    /// <summary>
    /// Starts <paramref name="request"/> as <paramref name="driverId"/> through <see cref="EventLog.WriteAheadAsync"/>, running
    /// <paramref name="between"/> once the draft has decided and before it takes the lock; <paramref name="runs"/> gets one
    /// entry per run of the command (true for the draft).
    /// </summary>
    private Task<TripOutcome> StartWithAWriteBetweenAsync(Guid driverId, StartTripRequest request, List<bool> runs, Func<Task> between) =>
        WriteAheadAsync(driverId, async (db, write, me) =>
        {
            runs.Add(write.IsDraft);
            var started = await TripCommands.StartAsync(db, write, me, request, ConflictPolicy.Refuse, Ct);
            if (write.IsDraft)
            {
                await between();
            }

            return started;
        });

    private async Task<T> WriteAheadAsync<T>(Guid userId, Func<AppDbContext, LogTransaction, CurrentUser, Task<T>> command)
    {
        var company = await CompanyOfAsync(userId);
        var me = new CurrentUser(userId, company, UserRole.Driver, Guid.NewGuid());
        await using var scope = app.CompanyScope(company);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await scope.ServiceProvider.GetRequiredService<EventLog>().WriteAheadAsync(write => command(db, write, me), Ct);
    }

    private Task<Guid> CompanyOfAsync(Guid userId) =>
        app.QueryAsync(db => db.Users.IgnoreQueryFilters().Where(u => u.Id == userId).Select(u => u.CompanyId).SingleAsync(Ct));

    private Task<long> HeadAsync(Guid company) =>
        app.QueryAsync(db => db.Companies.Where(c => c.Id == company).Select(c => c.LogHead).SingleAsync(Ct));
}
