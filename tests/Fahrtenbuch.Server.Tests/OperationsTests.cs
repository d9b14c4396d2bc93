using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Fahrtenbuch.Server.Tests;

/// <summary>A server that logs everything down to Debug into memory, to check what operators would see.</summary>
public sealed class LogCapturingAppFactory : AppFactory
{
    public ConcurrentQueue<string> Lines { get; } = new();

    protected override Dictionary<string, string?> Settings => new()
    {
        ["Logging:LogLevel:Default"] = "Debug",
        ["Logging:LogLevel:Microsoft"] = "Debug",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(new MemoryLoggerProvider(Lines)));
    }

    private sealed class MemoryLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new MemoryLogger(categoryName, lines);

        public void Dispose()
        {
        }
    }

    private sealed class MemoryLogger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The structured values too: a JSON formatter writes them even when the message template does not show them.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            lines.Enqueue($"{category} {formatter(state, exception)} {values} {exception}");
        }
    }
}

/// <summary>A server told to leave migrations to the separate <c>migrate</c> step.</summary>
public sealed class NoMigrateOnStartAppFactory : AppFactory
{
    protected override Dictionary<string, string?> Settings => new() { ["Database:MigrateOnStart"] = "false" };
}

public sealed class OperationsTests(LogCapturingAppFactory app) : IClassFixture<LogCapturingAppFactory>
{
    [Fact]
    public async Task Database_IsTheProviderTheTestEnvironmentAsksFor()
    {
        var provider = await app.QueryAsync(db => Task.FromResult(db.Database.ProviderName));
        Assert.Equal(TestDatabase.UsesPostgres ? "Npgsql.EntityFrameworkCore.PostgreSQL" : "Microsoft.EntityFrameworkCore.Sqlite", provider);
    }

    [Fact]
    public void Start_IsRefused_WhenTheSchemaIsBehindAndMigrateOnStartIsOff()
    {
        using var behind = new NoMigrateOnStartAppFactory();
        var error = Assert.Throws<InvalidOperationException>(() => behind.CreateClient());
        Assert.Contains("migrate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Live_ReportsHealthy_WithoutTouchingTheDatabase()
    {
        var response = await app.CreateClient().GetAsync("/health/live", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_ExposeRequestDurationsAndEventsWritten_InPrometheusFormat()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var chef = await app.LoginAsync("chef@demo.local");
        var created = await chef.PostAsJsonAsync("/api/vehicles", new { plate = "M OT 1", name = "Metrics", initialOdometer = 10 }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // Hosting records a request's duration after its response has gone out, and the exporter caches a scrape for
        // 300 ms (another test of this class may just have scraped): scrape until both have caught up.
        using var scraper = app.CreateClient();
        var response = await scraper.GetAsync("/metrics", cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var text = await PrometheusText.UntilAsync(scraper, t =>
            t.Contains("http_server_request_duration_seconds_bucket", StringComparison.Ordinal) && t.Contains("type=\"vehicle.created\"", StringComparison.Ordinal));

        Assert.Contains("http_server_request_duration_seconds_bucket", text);
        Assert.Contains("fahrtenbuch_events_written_total{", text);
        Assert.Contains("type=\"vehicle.created\"", text);
    }

    [Fact]
    public async Task Metrics_TimeHowLongLoggedWritesWaitForAndHoldTheWriteLock_RefusedWritesIncluded()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var scraper = app.CreateClient();
        var before = await scraper.GetStringAsync("/metrics", cancellationToken);
        var chef = await app.LoginAsync("chef@demo.local");
        var created = await chef.PostAsJsonAsync("/api/vehicles", new { plate = "M OT 2", name = "Lock timing", initialOdometer = 10 }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // A write the domain refuses under the lock took it too (and rolled back): it counts, it is part of what others
        // waited for. (A trip write refused by its draft never takes the lock: EventLog.WriteAheadAsync.)
        var taken = await chef.PostAsJsonAsync("/api/vehicles", new { plate = "M OT 2", name = "Same plate", initialOdometer = 10 }, cancellationToken);
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        var vehicle = (await created.Content.ReadFromJsonAsync<VehicleResponse>(TestJson.Options, cancellationToken))!;
        var started = await chef.PostAsJsonAsync("/api/trips", new { vehicleId = vehicle.Id }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);

        // The meter is process-wide: other classes' writes may add to the counts, never take from them.
        var after = await PrometheusText.UntilAsync(scraper, now =>
            PrometheusText.Sum(now, "fahrtenbuch_write_lock_wait_seconds_count") - PrometheusText.Sum(before, "fahrtenbuch_write_lock_wait_seconds_count") >= 3
            && PrometheusText.Sum(now, "fahrtenbuch_write_lock_held_seconds_count") - PrometheusText.Sum(before, "fahrtenbuch_write_lock_held_seconds_count") >= 3);
        Assert.Contains(after.Split('\n'), l => l.StartsWith("fahrtenbuch_write_lock_held_seconds_bucket{", StringComparison.Ordinal) && l.Contains("le=\"0.0005\"", StringComparison.Ordinal));
        Assert.True(PrometheusText.Sum(after, "fahrtenbuch_write_lock_held_seconds_sum") > PrometheusText.Sum(before, "fahrtenbuch_write_lock_held_seconds_sum"));
    }

    [Fact]
    public async Task Metrics_SayHowMuchOfTheWriteLocksHoldWasCpu_OnSqlite()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres || !OperatingSystem.IsLinux(), "The SQLite write gate's CPU time, on Linux.");
        var cancellationToken = TestContext.Current.CancellationToken;
        using var scraper = app.CreateClient();
        var before = await scraper.GetStringAsync("/metrics", cancellationToken);
        var chef = await app.LoginAsync("chef@demo.local");
        foreach (var plate in new[] { "M OT 3", "M OT 4" })
        {
            var created = await chef.PostAsJsonAsync("/api/vehicles", new { plate, name = "Lock CPU", initialOdometer = 10 }, cancellationToken);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var after = await PrometheusText.UntilAsync(scraper, now =>
            PrometheusText.Sum(now, "fahrtenbuch_write_lock_cpu_seconds_count") - PrometheusText.Sum(before, "fahrtenbuch_write_lock_cpu_seconds_count") >= 2);
        var cpu = PrometheusText.Sum(after, "fahrtenbuch_write_lock_cpu_seconds_sum") - PrometheusText.Sum(before, "fahrtenbuch_write_lock_cpu_seconds_sum");
        var held = PrometheusText.Sum(after, "fahrtenbuch_write_lock_held_seconds_sum") - PrometheusText.Sum(before, "fahrtenbuch_write_lock_held_seconds_sum");

        // Some CPU, and never more than the hold it was part of (each write's CPU interval lies within its hold).
        Assert.True(cpu > 0, $"CPU under the lock: {cpu} s");
        Assert.True(cpu <= held, $"CPU {cpu} s against held {held} s");
    }

    [Fact]
    public async Task Logs_NeverContainPasswordsOrTokens_EvenAtDebugLevel()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var client = app.CreateClient();
        var login = await client.PostAsJsonAsync("/api/auth/login", new { email = "anna@demo.local", password = DemoData.Password }, cancellationToken);
        var tokens = (await login.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options, cancellationToken))!;
        var refreshed = await client.PostAsJsonAsync("/api/auth/refresh", new { refreshToken = tokens.RefreshToken }, cancellationToken);
        var second = (await refreshed.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options, cancellationToken))!;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", second.AccessToken);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/me", cancellationToken)).StatusCode);
        var wrong = await client.PostAsJsonAsync("/api/auth/login", new { email = "anna@demo.local", password = "Wrong-Password-123" }, cancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        var logs = string.Join("\n", app.Lines);
        Assert.NotEmpty(app.Lines);
        foreach (var secret in new[] { DemoData.Password, "Wrong-Password-123", tokens.AccessToken, tokens.RefreshToken, second.AccessToken, second.RefreshToken })
        {
            Assert.DoesNotContain(secret, logs, StringComparison.Ordinal);
        }

        // A JWT's signature part alone must not leak either (e.g. a logged Authorization header).
        Assert.DoesNotContain(second.AccessToken.Split('.')[2], logs, StringComparison.Ordinal);
    }
}
