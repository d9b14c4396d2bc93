using System.Net;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Setup;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// A second instance of the server: its own data folder (so no key folder in common), the first instance's database — as
/// two instances on one PostgreSQL database run. Its folder has the first's folder name, which keys the PostgreSQL test database.
/// </summary>
public sealed class SecondInstanceAppFactory(AppFactory first) : AppFactory(Path.Combine(NewDataDirectory(), Path.GetFileName(first.DataDirectory)))
{
    protected override bool SeedDemo => false;

    // The database belongs to the first instance, which drops it; this one removes only its own folder (below).
    protected override bool DeleteDataOnDispose => false;

    protected override Dictionary<string, string?> Settings => TestDatabase.UsesPostgres ? [] : new()
    {
        ["ConnectionStrings:Fahrtenbuch"] = $"Data Source={Path.Combine(first.DataDirectory, "fahrtenbuch.db")};Default Timeout=30",
    };

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Directory.Exists(DataDirectory))
        {
            Directory.Delete(Path.GetDirectoryName(DataDirectory)!, recursive: true);
        }
    }
}

public sealed class SessionKeyTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task CookieSession_IssuedByOneInstance_IsAcceptedByAnotherOnTheSameDatabase()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest("anna@demo.local", DemoData.Password, UseCookie: true));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith(AuthenticationSetup.CookieName + "=", StringComparison.Ordinal))
            .Split(';')[0];

        using var second = new SecondInstanceAppFactory(app);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        request.Headers.Add("Cookie", cookie);
        var me = await (await second.CreateClient().SendAsync(request, cancellationToken)).ReadAsync<MeResponse>(HttpStatusCode.OK);

        Assert.Equal("anna@demo.local", me.Email);
        Assert.False(File.Exists(Path.Combine(second.DataDirectory, "keys")) || Directory.Exists(Path.Combine(second.DataDirectory, "keys")));
        Assert.True(await app.QueryAsync(db => db.DataProtectionKeys.AnyAsync(cancellationToken)));
    }

    [Fact]
    public async Task ForgedCookie_IsRejected_With401Problem()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        request.Headers.Add("Cookie", AuthenticationSetup.CookieName + "=CfDJ8not-a-protected-payload");
        var response = await app.CreateClient().SendAsync(request, TestContext.Current.CancellationToken);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }
}
