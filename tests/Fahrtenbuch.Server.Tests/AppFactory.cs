using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Setup;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// The real server on a fresh database of its own, seeded with the demo tenants: a SQLite file, or with
/// <c>FAHRTENBUCH_TEST_DB=postgres</c> a new database on the server in <c>FAHRTENBUCH_TEST_PG</c> (dropped on dispose).
/// Each test class gets one (xUnit class fixture), so classes never share data.
/// </summary>
public class AppFactory : WebApplicationFactory<Program>
{
    private readonly ConcurrentDictionary<string, Lazy<Task<HttpClient>>> _sessions = new();
    private readonly string _dataDirectory;
    private readonly TestDatabase? _postgres;

    public AppFactory()
        : this(NewDataDirectory())
    {
    }

    /// <summary>A server on a given data folder, e.g. a second server on the first one's SQLite file.</summary>
    protected AppFactory(string dataDirectory)
    {
        _dataDirectory = dataDirectory;

        // Keyed by the data folder, so a second server on the same folder also finds the same PostgreSQL database.
        _postgres = TestDatabase.FromEnvironment(Path.GetFileName(dataDirectory));
    }

    // A real SQLite file, on tmpfs where there is one: the suite's many small commits would otherwise wait on disk syncs.
    public static string NewDataDirectory() => Path.Combine(
        Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "fahrtenbuch-tests", Guid.NewGuid().ToString("N"));

    /// <summary>False keeps the data folder after disposal, for a restart on the same file.</summary>
    protected virtual bool DeleteDataOnDispose => true;

    public string DataDirectory => _dataDirectory;

    /// <summary>Extra settings a subclass or test wants (e.g. low rate limits).</summary>
    protected virtual Dictionary<string, string?> Settings => [];

    protected virtual bool SeedDemo => true;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("Storage:DataDirectory", _dataDirectory);
        if (_postgres is not null)
        {
            builder.UseSetting("Database:Provider", "Postgres");
            builder.UseSetting("ConnectionStrings:Fahrtenbuch", _postgres.ConnectionString);
        }

        builder.UseSetting("Seed:Demo", SeedDemo ? "true" : "false");
        builder.UseSetting("Limits:LoginPerMinute", "10000");
        builder.UseSetting("Limits:WritesPerSecond", "10000");
        builder.UseSetting("Limits:WriteBurst", "10000");
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }

        // Hashing strength is not under test; the production work factor would make every sign-in of the suite slow.
        builder.ConfigureTestServices(services => services.Configure<PasswordHasherOptions>(o => o.IterationCount = 1_000));
    }

    /// <summary>
    /// A signed-in client shared by the tests of this class, for callers whose session no test ends.
    /// Tests that log out, disable or lock out use <see cref="LoginAsync"/> or a fresh user instead.
    /// </summary>
    public Task<HttpClient> As(string email) =>
        _sessions.GetOrAdd(email, e => new Lazy<Task<HttpClient>>(() => LoginAsync(e))).Value;

    public async Task<HttpClient> LoginAsync(string email, string password = DemoData.Password)
    {
        var client = CreateClient();
        var response = await client.PostAsJsonAsync("/api/auth/login", new { email, password });
        response.EnsureSuccessStatusCode();
        var tokens = await response.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens!.AccessToken);
        return client;
    }

    public async Task<TokenResponse> TokensAsync(string email, string password = DemoData.Password)
    {
        var response = await CreateClient().PostAsJsonAsync("/api/auth/login", new { email, password });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options))!;
    }

    /// <summary>Runs a query against the real database file, across all companies.</summary>
    public async Task<T> QueryAsync<T>(Func<AppDbContext, Task<T>> query)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await query(db);
    }

    /// <summary>A unit of work in the given company, as a request of one of its users would get (its context, event log, hooks).</summary>
    public AsyncServiceScope CompanyScope(Guid companyId)
    {
        var scope = Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = companyId;
        return scope;
    }

    /// <summary>Row counts of every table that a write could touch, to prove a refused request changed nothing.</summary>
    public Task<string> FingerprintAsync() => QueryAsync(async db =>
        string.Join(",", [
            await db.Companies.SumAsync(c => c.LogHead),
            await db.Events.IgnoreQueryFilters().CountAsync(),
            await db.Trips.IgnoreQueryFilters().CountAsync(),
            await db.TripRevisions.CountAsync(),
            await db.Vehicles.IgnoreQueryFilters().CountAsync(),
            await db.OdometerReadings.IgnoreQueryFilters().CountAsync(),
            await db.Users.CountAsync(),
            await db.Trips.IgnoreQueryFilters().CountAsync(t => t.State == Trips.TripState.Active),
        ]));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && DeleteDataOnDispose)
        {
            _postgres?.Drop();
            try
            {
                Directory.Delete(_dataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open by a pooled connection; the temp folder is cleaned by the OS.
            }
        }
    }
}

public static class TestJson
{
    public static System.Text.Json.JsonSerializerOptions Options { get; } = CreateOptions();

    private static System.Text.Json.JsonSerializerOptions CreateOptions()
    {
        var options = ApiJson.Configure(new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web));
        options.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip;
        return options;
    }
}
