using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Logbook;
using Microsoft.EntityFrameworkCore;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

public sealed class JournalTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task Verify_ReportsValid_ForTripsChangedOnlyThroughTheApi()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var anna = await app.LoginAsync("anna@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1001");
        var trip = await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-2), 48_210, 42);
        var corrected = await chef.PostAsJsonAsync($"/api/trips/{trip}/revisions", new { reason = "Tippfehler", purpose = "Vertragsverhandlung" }, Ct);
        corrected.EnsureSuccessStatusCode();
        (await anna.PostAsJsonAsync($"/api/trips/{trip}/annotations", new { text = "Parkticket liegt bei" }, Ct)).EnsureSuccessStatusCode();

        var verify = await JsonAsync(anna, $"/api/vehicles/{vehicle}/journal/verify");
        Assert.True(verify.GetProperty("valid").GetBoolean(), verify.ToString());
        Assert.Equal(3, verify.GetProperty("entries").GetInt32());
        Assert.Equal(64, verify.GetProperty("fingerprint").GetString()!.Length);

        var journal = await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal");
        Assert.Equal(["trip.recorded", "trip.corrected", "trip.annotated"], journal.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        var correction = journal[1];
        Assert.Equal(journal[0].GetProperty("hash").GetString(), correction.GetProperty("previousHash").GetString());
        var canonical = correction.GetProperty("canonical").GetString()!;
        Assert.Equal(correction.GetProperty("hash").GetString(), JournalFormat.Hash(canonical));
        Assert.Contains("\"old\":{\"purpose\":\"Kundentermin\"}", canonical, StringComparison.Ordinal);
        Assert.Contains("Vertragsverhandlung", canonical, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_FindsTheBrokenLink_WhenATripRowIsChangedInTheDatabase()
    {
        var anna = await app.LoginAsync("anna@demo.local");
        var vehicle = await VehicleAsync(anna, "M FB 1002");
        var first = await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-3), 112_530, 10);
        await RecordAsync(anna, vehicle, DateTimeOffset.UtcNow.AddDays(-2), 112_540, 20);
        Assert.True((await JsonAsync(anna, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("valid").GetBoolean());

        await app.QueryAsync(db => db.Database.ExecuteSqlRawAsync("UPDATE \"Trips\" SET \"EndOdometer\" = \"EndOdometer\" - 5 WHERE \"Id\" = {0}", first));

        var verify = await JsonAsync(anna, $"/api/vehicles/{vehicle}/journal/verify");
        Assert.False(verify.GetProperty("valid").GetBoolean());
        Assert.Equal(1, verify.GetProperty("firstBrokenSequence").GetInt64());
        Assert.Contains("changed outside the application", verify.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_FindsTheBrokenLink_WhenAJournalRowIsChangedInTheDatabase()
    {
        var ben = await app.LoginAsync("ben@demo.local");
        var vehicle = await VehicleAsync(ben, "M FB 1005");
        await RecordAsync(ben, vehicle, DateTimeOffset.UtcNow.AddDays(-3), 76_002, 10);
        await RecordAsync(ben, vehicle, DateTimeOffset.UtcNow.AddDays(-2), 76_012, 10);
        await RecordAsync(ben, vehicle, DateTimeOffset.UtcNow.AddDays(-1), 76_022, 10);

        await app.QueryAsync(db => db.Database.ExecuteSqlRawAsync(
            "UPDATE \"JournalEntries\" SET \"Canonical\" = replace(\"Canonical\", 'Kundentermin', 'Privat') WHERE \"VehicleId\" = {0} AND \"Sequence\" = 2", vehicle));
        var edited = await JsonAsync(ben, $"/api/vehicles/{vehicle}/journal/verify");
        Assert.False(edited.GetProperty("valid").GetBoolean());
        Assert.Equal(2, edited.GetProperty("firstBrokenSequence").GetInt64());

        await app.QueryAsync(db => db.Database.ExecuteSqlRawAsync("DELETE FROM \"JournalEntries\" WHERE \"VehicleId\" = {0} AND \"Sequence\" = 2", vehicle));
        var deleted = await JsonAsync(ben, $"/api/vehicles/{vehicle}/journal/verify");
        Assert.False(deleted.GetProperty("valid").GetBoolean());
        Assert.Equal(2, deleted.GetProperty("firstBrokenSequence").GetInt64());
        Assert.Contains("missing", deleted.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Journal_HidesTheCanonicalTextOfAnotherDriversPrivateTrip_AndRefusesDrivers()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        var clara = await app.LoginAsync("clara@demo.local");
        var vehicle = await VehicleAsync(clara, "M FB 1004");
        await RecordAsync(clara, vehicle, DateTimeOffset.UtcNow.AddDays(-2), 9_415, 30, category: "private", purpose: null, partner: null, destination: "Ammersee");

        var journal = await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal");
        Assert.True(journal[0].GetProperty("restricted").GetBoolean());
        Assert.Equal(JsonValueKindNull, journal[0].GetProperty("canonical").ValueKind);
        await ProblemAssert.IsProblemAsync(await clara.GetAsync($"/api/vehicles/{vehicle}/journal", Ct), HttpStatusCode.Forbidden, "journal.forbidden");
        await ProblemAssert.IsProblemAsync(await app.CreateClient().GetAsync($"/api/vehicles/{vehicle}/journal/verify", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");

        var other = await app.LoginAsync("chef@zweite.local");
        await ProblemAssert.IsProblemAsync(await other.GetAsync($"/api/vehicles/{vehicle}/journal/verify", Ct), HttpStatusCode.NotFound, "vehicle.not-found");
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;
}
