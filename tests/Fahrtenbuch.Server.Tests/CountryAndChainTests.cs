using System.Net;
using System.Net.Http.Json;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

public sealed class CountryAndChainTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static readonly DateTimeOffset May = new(2025, 5, 5, 7, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Germany_SplitsBusinessPrivateAndCommute_AndComputesTheOnePercentRule()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var ben = await app.LoginAsync("ben@demo.local");
        var vehicle = await VehicleAsync(ben, "M FB 1005");
        await RecordAsync(ben, vehicle, May, 76_002, 100);
        await RecordAsync(ben, vehicle, May.AddDays(1), 76_102, 50, category: "private", purpose: null, partner: null);
        await RecordAsync(ben, vehicle, May.AddDays(2), 76_152, 20, category: "commute", purpose: null, partner: null);

        var report = await JsonAsync(chef, $"/api/reports/tax?vehicleId={vehicle}&year=2025&listPrice=45678");
        Assert.Equal((100, 50, 20, 170), (report.GetProperty("businessKm").GetInt32(), report.GetProperty("privateKm").GetInt32(), report.GetProperty("commuteKm").GetInt32(), report.GetProperty("totalKm").GetInt32()));
        var de = report.GetProperty("germany");
        Assert.Equal(45600m, de.GetProperty("roundedListPrice").GetDecimal());
        Assert.Equal(456m, de.GetProperty("privateUsePerYear").GetDecimal()); // 1 % × 45,600 € × 1 month with use
        Assert.Equal(273.6m, de.GetProperty("commutePerYear").GetDecimal()); // 0.03 % × 45,600 € × 20 km × 1 month
        await ProblemAssert.IsProblemAsync(await app.LoginAsync("clara@demo.local").ContinueWith(t => t.Result.GetAsync($"/api/reports/tax?vehicleId={vehicle}&year=2025", Ct)).Unwrap(),
            HttpStatusCode.Forbidden, "report.forbidden");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/reports/tax?vehicleId={vehicle}&year=1999", Ct), HttpStatusCode.UnprocessableEntity, "report.parameters-invalid");
    }

    [Fact]
    public async Task Austria_CountsTheCommuteAsPrivate_AgainstThe500KmLimit()
    {
        var chef = await app.LoginAsync("chef@zweite.local");
        var vehicle = await VehicleAsync(chef, "W ZD 202");
        await RecordAsync(chef, vehicle, May, 58_905, 400, category: "private", purpose: null, partner: null);
        await RecordAsync(chef, vehicle, May.AddDays(1), 59_305, 150, category: "commute", purpose: null, partner: null);

        var report = await JsonAsync(chef, $"/api/reports/tax?vehicleId={vehicle}&year=2025");
        Assert.Equal(550, report.GetProperty("privateKm").GetInt32());
        Assert.Equal(0, report.GetProperty("commuteKm").GetInt32());
        Assert.True(report.GetProperty("months")[4].GetProperty("overAustrianLimit").GetBoolean());
        Assert.Equal(1, report.GetProperty("austria").GetProperty("monthsOverLimit").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, report.GetProperty("germany").ValueKind);
    }

    [Fact]
    public async Task Gap_BecomesATaskForTheDriversWhoHadTheCar_AndIsResolvedByANote()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var clara = await app.LoginAsync("clara@demo.local");
        var chef = await app.LoginAsync("chef@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1004");
        await RecordAsync(anna, vehicle, May, 9_415, 30);
        await RecordAsync(anna, vehicle, May.AddDays(2), 9_485, 10); // 40 km unrecorded

        var chain = await JsonAsync(chef, $"/api/vehicles/{vehicle}/chain");
        var gap = chain.EnumerateArray().Single(i => i.GetProperty("kind").GetString() == "gap");
        Assert.Equal((9_445, 9_485, 40), (gap.GetProperty("fromOdometer").GetInt32(), gap.GetProperty("toOdometer").GetInt32(), gap.GetProperty("km").GetInt32()));
        var taskId = gap.GetProperty("taskId").GetString()!;
        Assert.Contains((await JsonAsync(anna, "/api/tasks")).EnumerateArray(), t => t.GetProperty("id").GetString() == taskId);
        Assert.DoesNotContain((await JsonAsync(clara, "/api/tasks")).EnumerateArray(), t => t.GetProperty("id").GetString() == taskId);

        var before = await app.FingerprintAsync();
        await ProblemAssert.IsProblemAsync(await clara.PostAsJsonAsync($"/api/tasks/{taskId}/explain", new { note = "x" }, Ct), HttpStatusCode.Forbidden, "task.not-yours");
        await ProblemAssert.IsProblemAsync(await anna.PostAsJsonAsync("/api/tasks/gap-nope/explain", new { note = "x" }, Ct), HttpStatusCode.NotFound, "task.not-found");
        Assert.Equal(before, await app.FingerprintAsync());

        (await anna.PostAsJsonAsync($"/api/tasks/{taskId}/explain", new { note = "Werkstattfahrt durch den Händler" }, Ct)).EnsureSuccessStatusCode();
        Assert.DoesNotContain((await JsonAsync(anna, "/api/tasks")).EnumerateArray(), t => t.GetProperty("id").GetString() == taskId);
        var explained = (await JsonAsync(chef, $"/api/vehicles/{vehicle}/chain")).EnumerateArray().Single(i => i.GetProperty("kind").GetString() == "gap");
        Assert.Equal("Werkstattfahrt durch den Händler", explained.GetProperty("explanation").GetProperty("note").GetString());
        var journal = await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal");
        Assert.Equal("gap.explained", journal[journal.GetArrayLength() - 1].GetProperty("action").GetString());
        Assert.True((await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("valid").GetBoolean());
    }
}
