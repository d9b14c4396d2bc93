using System.Collections.Concurrent;
using System.Net;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Setup;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// An empty installation. The setup token is read from the server log, the way an operator gets it:
/// calling <see cref="SetupToken.Open"/> from the test would mint a new token and replace the logged
/// one, so the test would no longer prove that the printed token works.
/// </summary>
public sealed class EmptyAppFactory : AppFactory
{
    private readonly LogCapture _logs = new();

    protected override bool SeedDemo => false;

    public string? LoggedSetupToken => _logs.Values("SetupToken").LastOrDefault();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(_logs));
    }

    private sealed class LogCapture : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<IReadOnlyList<KeyValuePair<string, object?>>> _entries = new();

        public IEnumerable<string> Values(string name) =>
            _entries.SelectMany(e => e).Where(p => p.Key == name).Select(p => p.Value?.ToString()).OfType<string>();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
            {
                _entries.Enqueue(values);
            }
        }

        public void Dispose()
        {
        }
    }
}

public sealed class SetupTests(EmptyAppFactory app) : IClassFixture<EmptyAppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Setup_RefusesAWrongToken_AndCreatesNothing()
    {
        var client = app.CreateClient();
        var before = await app.FingerprintAsync();

        var response = await client.PostJsonAsync("/api/setup", new SetupRequest("wrong-token", "Firma", "DE", "boss@firma.local", "Boss", "ein-langes-passwort"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "setup.token-invalid");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Setup_CreatesTheFirstCompanyAndFleetManager_WithTheTokenFromTheLog_Once()
    {
        var client = app.CreateClient();
        var token = app.LoggedSetupToken;
        Assert.False(string.IsNullOrEmpty(token), "An empty installation prints a setup token to the log.");
        Assert.True((await client.GetJsonAsync<SetupState>("/api/setup")).SetupRequired);

        // A rejected password must not burn the one-time token.
        var weak = await client.PostJsonAsync("/api/setup", new SetupRequest(token!, "Erste Firma", "AT", "boss@erste.local", "Berta Boss", "kurz"));
        await ProblemAssert.IsProblemAsync(weak, HttpStatusCode.UnprocessableEntity, "auth.password-rejected");

        var tokens = await (await client.PostJsonAsync("/api/setup", new SetupRequest(token!, "Erste Firma", "AT", "boss@erste.local", "Berta Boss", "ein-langes-passwort")))
            .ReadAsync<TokenResponse>(HttpStatusCode.OK);

        var me = await app.CreateClient().WithBearer(tokens.AccessToken).GetJsonAsync<MeResponse>("/api/me");
        Assert.Equal(UserRole.FleetManager, me.Role);
        Assert.Equal(("Erste Firma", "AT"), (me.Company.Name, me.Company.Country));
        Assert.False((await client.GetJsonAsync<SetupState>("/api/setup")).SetupRequired);
        var before = await app.FingerprintAsync();
        var again = await client.PostJsonAsync("/api/setup", new SetupRequest(token!, "Zweite Firma", "DE", "boss@zweite-firma.local", "Zweiter Boss", "ein-langes-passwort"));
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.Forbidden, "setup.token-invalid");
        Assert.Equal(before, await app.FingerprintAsync());
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest("boss@erste.local", "ein-langes-passwort"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task EmptyInstallation_HasNoDemoUsers()
    {
        var response = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(TestApi.Chef, TestApi.DemoPassword));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.invalid-credentials");
    }

    private sealed record SetupState(bool SetupRequired);
}
