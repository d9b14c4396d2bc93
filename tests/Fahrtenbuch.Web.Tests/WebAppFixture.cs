using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Setup;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

[assembly: AssemblyFixture(typeof(Fahrtenbuch.Web.Tests.WebAppFixture))]

// The classes share one server and one browser; run them one at a time, so the tests that measure "within a second"
// do not compete with the other classes' writes and page loads for the machine's two cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Fahrtenbuch.Web.Tests;

/// <summary>
/// The real server on Kestrel (127.0.0.1, a free port) with a fresh SQLite file and the demo tenants,
/// plus Debian's Chromium driven by Playwright. One of each per test run; tests isolate themselves
/// through their own browser contexts and by using different vehicles.
/// </summary>
public sealed class WebAppFixture : IAsyncLifetime
{
    public const string Password = DemoData.Password;

    private readonly ServerFactory _factory = new();
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Runs a query against the server's real database (all companies).</summary>
    public async Task<T> QueryAsync<T>(Func<AppDbContext, Task<T>> query)
    {
        await using var scope = _factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        db.Database.SetCommandTimeout(30);
        return await query(db);
    }

    /// <summary>The time zone every browser context runs in; tests that type local times use it too.</summary>
    public const string BrowserTimeZone = "Europe/Berlin";

    public static string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        _factory.UseKestrel(0);
        _factory.StartServer();
        var addresses = _factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        BaseUrl = addresses.First().Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/');

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Directory.CreateDirectory(ScreenshotDirectory);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium",
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        await _factory.DisposeAsync();
    }

    /// <summary>A fresh browser context (own cookies, storage and service worker) sized like a phone or a desktop.</summary>
    public async Task<IBrowserContext> NewContextAsync(bool phone = false, string locale = "de-DE")
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl,
            Locale = locale,
            TimezoneId = BrowserTimeZone,
            ViewportSize = phone ? new ViewportSize { Width = 390, Height = 844 } : new ViewportSize { Width = 1440, Height = 900 },
            IsMobile = phone,
            HasTouch = phone,
            DeviceScaleFactor = 1,
        });
        context.SetDefaultTimeout(10_000);
        return context;
    }

    /// <summary>Opens the app in a new context and signs in through the login form.</summary>
    public async Task<IPage> LoginAsync(string email, bool phone = false, string locale = "de-DE")
    {
        var context = await NewContextAsync(phone, locale);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(Password);
        await page.GetByTestId("login-submit").ClickAsync();
        await page.GetByTestId("app-header").WaitForAsync();
        return page;
    }

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    private sealed class ServerFactory : WebApplicationFactory<Program>
    {
        private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "fahrtenbuch-web-tests", Guid.NewGuid().ToString("N"));

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("Storage:DataDirectory", _dataDirectory);
            builder.UseSetting("Seed:Demo", "true");
            builder.UseSetting("Limits:LoginPerMinute", "10000");
            builder.UseSetting("Limits:WritesPerSecond", "10000");
            builder.UseSetting("Limits:WriteBurst", "10000");

            // The server's errors, for the person reading a failed run: bin/<configuration>/net10.0/server-errors.log.
            builder.ConfigureLogging(logging => logging.AddProvider(new ErrorFileLoggerProvider(Path.Combine(AppContext.BaseDirectory, "server-errors.log"))));
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
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
}

/// <summary>Appends the server's errors (with their exceptions) to a file.</summary>
internal sealed class ErrorFileLoggerProvider(string path) : ILoggerProvider
{
    private readonly Lock _gate = new();

    public ILogger CreateLogger(string categoryName) => new ErrorLogger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(string line)
    {
        lock (_gate)
        {
            File.AppendAllText(path, line + Environment.NewLine);
        }
    }

    private sealed class ErrorLogger(ErrorFileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write($"{DateTime.UtcNow:O} {logLevel} {category}: {formatter(state, exception)}\n{exception}");
            }
        }
    }
}
