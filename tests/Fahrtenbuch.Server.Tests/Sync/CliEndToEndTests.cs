using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>The real <c>fahrtenbuch</c> executable against the real server over TCP, going offline in between.</summary>
public sealed class CliEndToEndTests(KestrelApp app) : IClassFixture<KestrelApp>
{
    [Fact]
    public async Task Cli_StartsOnline_CompletesOffline_AndSyncDeliversTheCompletion()
    {
        var server = app.Address.ToString();
        var state = Path.Combine(app.DataDirectory, "cli");

        var login = await RunAsync(state, "login", "--server", server, "--email", "anna@demo.local", "--password", DemoData.Password);
        Assert.True(login.Code == 0, login.Output);
        Assert.Contains("Anna Albers", login.Output);

        var vehicles = await RunAsync(state, "vehicles");
        Assert.Contains("M FB 1002", vehicles.Output);

        var started = await RunAsync(state, "trip", "start", "--vehicle", "m fb 1002");
        Assert.True(started.Code == 0, started.Output);
        Assert.Contains("sent", started.Output);
        var trip = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.State == TripState.Active, TestContext.Current.CancellationToken));
        Assert.Equal(112_530, trip.StartOdometer);

        var completed = await RunAsync(state, "trip", "complete", "--odometer", "112577", "--category", "private", "--server", DeadServer());
        Assert.True(completed.Code == 0, completed.Output);
        Assert.Contains("queued", completed.Output);
        Assert.Equal(TripState.Active, (await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.Id == trip.Id, TestContext.Current.CancellationToken))).State);

        var synced = await RunAsync(state, "sync");
        Assert.True(synced.Code == 0, synced.Output);
        Assert.Contains("sent 1", synced.Output);
        var done = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.Id == trip.Id, TestContext.Current.CancellationToken));
        Assert.Equal(TripState.Completed, done.State);
        Assert.Equal(112_577, done.EndOdometer);

        var again = await RunAsync(state, "sync");
        Assert.Contains("nothing to send", again.Output);
    }

    [Fact]
    public async Task Cli_ShowsAFlaggedOdometerReading_AndTheFleetManagerAcceptsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var ben = await app.LoginAsync("ben@demo.local");
        var car = await app.NewVehicleAsync(60_000);
        var recorded = await ben.PostAsJsonAsync($"/api/vehicles/{car}/odometer", new { value = 59_000, note = "Display unscharf" }, ct);
        recorded.EnsureSuccessStatusCode();
        var reading = (await recorded.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(ct)).GetProperty("id").GetGuid();

        var state = Path.Combine(app.DataDirectory, "cli-chef");
        var login = await RunAsync(state, "login", "--server", app.Address.ToString(), "--email", "chef@demo.local", "--password", DemoData.Password);
        Assert.True(login.Code == 0, login.Output);
        var queue = await RunAsync(state, "review");
        Assert.True(queue.Code == 0, queue.Output);
        Assert.Contains(reading.ToString(), queue.Output);
        Assert.Contains("59000 km", queue.Output);

        var accepted = await RunAsync(state, "review", "accept-reading", reading.ToString(), "--note", "Tacho getauscht");
        Assert.True(accepted.Code == 0, accepted.Output);
        var stored = await app.QueryAsync(db => db.OdometerReadings.IgnoreQueryFilters().SingleAsync(r => r.Id == reading, ct));
        Assert.NotNull(stored.ReviewResolvedAt);
        Assert.DoesNotContain(reading.ToString(), (await RunAsync(state, "review")).Output);

        var again = await RunAsync(state, "review", "accept-reading", reading.ToString());
        Assert.NotEqual(0, again.Code);
        Assert.Contains("review.not-pending", again.Output);
    }

    internal static string DeadServer()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    internal static async Task<(int Code, string Output)> RunAsync(string stateDir, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(CliPath());
        foreach (var arg in args.Append("--state-dir").Append(stateDir))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>The CLI's build output next to this test build (same configuration).</summary>
    internal static string CliPath()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = testBin.Parent!.Name;
        var repository = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        return Path.Combine(repository, "src", "Fahrtenbuch.Cli", "bin", configuration, testBin.Name, "fahrtenbuch.dll");
    }
}
