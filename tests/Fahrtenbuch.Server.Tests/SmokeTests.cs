using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Vehicles;

namespace Fahrtenbuch.Server.Tests;

public sealed class SmokeTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task Health_ReportsHealthy_WithTheDatabaseReachable()
    {
        var response = await app.CreateClient().GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task DemoDriver_SeesTheFiveDemoVehicles()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var me = await anna.GetFromJsonAsync<MeResponse>("/api/me", TestJson.Options, TestContext.Current.CancellationToken);
        var vehicles = await anna.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options, TestContext.Current.CancellationToken);
        Assert.Equal("Demo Fuhrpark GmbH", me!.Company.Name);
        Assert.Equal(5, vehicles!.Count);
    }
}
