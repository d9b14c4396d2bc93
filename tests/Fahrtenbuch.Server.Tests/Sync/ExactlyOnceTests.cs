using System.Net;
using Fahrtenbuch.Client;
using Fahrtenbuch.Client.Simulation;
using Fahrtenbuch.Server.Setup;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>Exactly-once delivery from offline clients through a network that cuts connections at random.</summary>
public sealed class ExactlyOnceTests(KestrelApp app) : IClassFixture<KestrelApp>
{
    [Fact]
    public async Task SimulatedDrivers_BehindAFaultyNetwork_LeaveExactlyTheirTripsOnTheServer()
    {
        var ct = TestContext.Current.CancellationToken;
        var server = app.Address;
        await using var proxy = new FaultyProxy(new IPEndPoint(IPAddress.Loopback, server.Port), cutChance: 0.35, seed: 4711);
        using var manager = new FahrtenbuchClient(server);
        await manager.LoginAsync("chef@demo.local", DemoData.Password, ct);

        var simulator = new Simulator(new Uri($"http://127.0.0.1:{proxy.Port}"), Path.Combine(app.DataDirectory, "clients"),
            () => new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), PooledConnectionLifetime = TimeSpan.FromSeconds(5) });
        await simulator.SetUpAsync(manager, drivers: 4, seed: 42, ct);
        foreach (var driver in simulator.Drivers)
        {
            driver.Client.RequestTimeout = TimeSpan.FromSeconds(10);
        }

        await simulator.RunAsync(TimeSpan.FromSeconds(12), ct);

        var stats = simulator.Stats;
        TestContext.Current.SendDiagnosticMessage(
            $"trips started {stats.TripsStarted}, recorded {stats.TripsRecorded}, cancelled {stats.TripsCancelled}, offline periods {stats.OfflinePeriods}, " +
            $"failed flushes {stats.FlushFailures}, cuts mid-request {proxy.CutsMidRequest}, mid-response {proxy.CutsMidResponse}, connections {proxy.Connections}");
        Assert.True(proxy.CutsMidRequest + proxy.CutsMidResponse > 0, "the proxy never cut a connection, so the test proved nothing");
        Assert.True(stats.OfflinePeriods > 0);

        var created = 0;
        foreach (var driver in simulator.Drivers)
        {
            Assert.Equal(0, driver.Outbox.Count);
            var local = driver.Outbox.Trips().OrderBy(t => t.Id).ToList();
            var onServer = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.VehicleId == driver.VehicleId).OrderBy(t => t.Id).ToListAsync(ct));
            Assert.Equal(local.Select(t => t.Id), onServer.Select(t => t.Id));
            foreach (var (mine, theirs) in local.Zip(onServer))
            {
                Assert.Equal(theirs.State.ToString().ToLowerInvariant(), mine.State);
                Assert.Equal(theirs.StartOdometer, mine.StartOdometer);
                Assert.Equal(theirs.EndOdometer, mine.EndOdometer);
                Assert.Equal(Trips.ReviewState.None, theirs.Review);
            }

            created += local.Count;
        }

        Assert.Equal(stats.TripsStarted + stats.TripsRecorded, created);
        var rejected = await app.QueryAsync(db => db.SyncOperations.IgnoreQueryFilters().CountAsync(o => o.Status == Server.Sync.SyncStatus.Rejected, ct));
        Assert.Equal(0, rejected);
    }
}
