using System.Net;
using System.Net.Http.Json;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// Each instance remembers a company's closed months and journal heads between writes; what another instance on the same
/// database wrote meanwhile must still count.
/// </summary>
public sealed class JournalStateCacheTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static readonly DateTimeOffset March = new(2025, 3, 10, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task JournalChain_ContinuesFromTheOtherInstancesEntry_WhenItJournaledTheSameVehicleInBetween()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1001");
        await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-3), 48_210, 10);

        using var second = new SecondInstanceAppFactory(app);
        await RecordAsync(await second.LoginAsync("anna@demo.local"), vehicle, DateTimeOffset.UtcNow.AddDays(-2), 48_220, 10);
        await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-1), 48_230, 10);

        var verify = await JsonAsync(anna, $"/api/vehicles/{vehicle}/journal/verify");
        Assert.True(verify.GetProperty("valid").GetBoolean(), verify.ToString());
        Assert.Equal(3, verify.GetProperty("entries").GetInt32());
    }

    [Fact]
    public async Task TripInAPeriod_IsRefused_WhenAnotherInstanceClosedThePeriodAfterThisOneWrote()
    {
        var ben = await app.LoginAsync("ben@demo.local");
        var vehicle = await VehicleAsync(ben, "M FB 1005");
        await RecordAsync(ben, vehicle, March, 76_002, 10);

        using var second = new SecondInstanceAppFactory(app);
        var closed = await (await second.LoginAsync("pruefer@demo.local")).PostAsync("/api/periods/2025-03/close", null, Ct);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);

        var late = await ben.PostAsJsonAsync("/api/trips/late", new
        {
            vehicleId = vehicle,
            startedAt = March.AddDays(5),
            endedAt = March.AddDays(5).AddHours(1),
            startOdometer = 76_012,
            endOdometer = 76_020,
            category = "private",
        }, Ct);
        await ProblemAssert.IsProblemAsync(late, HttpStatusCode.Conflict, "period.closed");
    }
}
