using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Fahrtenbuch.Web.Tests;

/// <summary>The Export screen: a streamed download with real progress, saved under the server's file name; drivers never see it.</summary>
public sealed class ExportScreenTests(WebAppFixture app)
{
    private const int Trips = 30;

    /// <summary>A vehicle of its own with <see cref="Trips"/> back-to-back business trips in March 2025, created through the API with the page's cookie session.</summary>
    private static async Task<(string Id, string Plate)> VehicleWithTripsAsync(IPage page)
    {
        var api = page.Context.APIRequest;
        var csrf = new Dictionary<string, string> { ["X-CSRF"] = "1" };
        var plate = $"E {Guid.NewGuid().ToString("N")[..6].ToUpperInvariant()}";
        var created = await api.PostAsync("/api/vehicles", new() { DataObject = new { plate, name = "Exportwagen", initialOdometer = 1000 }, Headers = csrf });
        Assert.True(created.Ok, await created.TextAsync());
        var id = (await created.JsonAsync())!.Value.GetProperty("id").GetString()!;
        var start = new DateTimeOffset(2025, 3, 1, 7, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < Trips; i++)
        {
            var trip = await api.PostAsync("/api/trips/late", new()
            {
                Headers = csrf,
                DataObject = new
                {
                    vehicleId = id, startedAt = start.AddHours(i * 20), endedAt = start.AddHours((i * 20) + 1), startOdometer = 1000 + (i * 20), endOdometer = 1020 + (i * 20),
                    category = "business", destination = $"Werk {i + 1}", purpose = "Wartung", businessPartner = $"Kunde {i + 1} GmbH",
                },
            });
            Assert.True(trip.Ok, await trip.TextAsync());
        }

        return (id, plate);
    }

    [Fact]
    public async Task FleetManager_ExportsACsv_WithProgressToCompletion_SavedUnderTheServersFileName()
    {
        var page = await app.LoginAsync("chef@demo.local");
        var (vehicleId, plate) = await VehicleWithTripsAsync(page);

        await page.GetByTestId("nav-board-export").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Fahrtenbuch exportieren" })).ToBeVisibleAsync();
        await page.GetByTestId("export-vehicle").SelectOptionAsync(vehicleId);
        await page.GetByTestId("export-from").FillAsync("2025-03-01");
        await page.GetByTestId("export-to").FillAsync("2025-03-31");
        await Expect(page.GetByTestId("export-preset")).ToHaveValueAsync("custom");
        await page.GetByTestId("export-format-csv").CheckAsync();

        // Every state and value the progress bar passes through, to prove it ran and ended full.
        await page.EvaluateAsync("""
            () => {
              const bar = document.querySelector('[data-testid="export-progress"]');
              window.progressSeen = [];
              new MutationObserver(() => window.progressSeen.push({ state: bar.dataset.state, value: bar.value, max: bar.max }))
                .observe(bar, { attributes: true });
            }
            """);
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("export-submit").ClickAsync());

        Assert.Equal($"fahrtenbuch-{plate.Replace(' ', '-')}-2025-03-01-2025-03-31.csv", download.SuggestedFilename);
        var lines = (await File.ReadAllLinesAsync((await download.PathAsync())!, TestContext.Current.CancellationToken)).Where(l => l.Length > 0).ToList();
        Assert.StartsWith("RowType;No;TripId;Date", lines[0].TrimStart('\uFEFF'), StringComparison.Ordinal);
        Assert.Equal(Trips, lines.Count(l => l.StartsWith("trip;", StringComparison.Ordinal)));
        Assert.Equal(Trips + 1, lines.Count);
        Assert.Contains(lines, l => l.Contains("2025-03-01;08:00;09:00;1000;1020;20;", StringComparison.Ordinal) && l.Contains("Kunde 1 GmbH", StringComparison.Ordinal));

        var progress = page.GetByTestId("export-progress");
        await Expect(progress).ToHaveAttributeAsync("data-state", "done");
        await Expect(progress).ToHaveJSPropertyAsync("value", 1);
        await Expect(progress).ToHaveJSPropertyAsync("max", 1);
        await Expect(page.GetByTestId("export-status")).ToContainTextAsync($"Fertig: {download.SuggestedFilename}");
        var seen = (await page.EvaluateAsync<JsonElement>("() => window.progressSeen")).EnumerateArray().ToList();
        Assert.Contains(seen, s => s.GetProperty("state").GetString() == "running");
        // While running the bar counts CSV records against X-Export-Rows (30): it reached the announced total.
        Assert.Contains(seen, s => s.GetProperty("state").GetString() == "running" && s.GetProperty("max").GetDouble() == Trips && s.GetProperty("value").GetDouble() == Trips);
        Assert.Equal("done", seen[^1].GetProperty("state").GetString());
        await Expect(page.GetByTestId("export-error")).ToBeHiddenAsync();
        await Expect(page.GetByTestId("export-cancel")).ToBeHiddenAsync();
        await WebAppFixture.ScreenshotAsync(page, "desktop-export-done");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ExportErrors_AreShown_FromTheServersProblem_AndWhenTheConnectionFails()
    {
        var page = await app.LoginAsync("pruefer@demo.local", locale: "en-GB");
        await page.GetByTestId("lang-toggle").ClickAsync();
        await page.GetByTestId("nav-board-export").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Export the logbook" })).ToBeVisibleAsync();
        await Expect(page.GetByTestId("export-vehicle").Locator("option")).Not.ToHaveCountAsync(0);

        await page.GetByTestId("export-from").FillAsync("2025-04-01");
        await page.GetByTestId("export-to").FillAsync("2025-03-01");
        await page.GetByTestId("export-submit").ClickAsync();
        await Expect(page.GetByTestId("export-error")).ToHaveTextAsync("\"From\" must not be after \"To\".");

        // More than ten years: the server's problem detail is shown as it is.
        await page.GetByTestId("export-from").FillAsync("2010-01-01");
        await page.GetByTestId("export-to").FillAsync("2025-03-31");
        await page.GetByTestId("export-submit").ClickAsync();
        await Expect(page.GetByTestId("export-error")).ToContainTextAsync("Export failed: The period must have from ≤ to and span at most ten years.");
        await Expect(page.GetByTestId("export-progress")).ToHaveAttributeAsync("data-state", "error");

        await page.RouteAsync(new Regex("/logbook\\."), route => route.AbortAsync("internetdisconnected"));
        await page.GetByTestId("export-from").FillAsync("2025-01-01");
        await page.GetByTestId("export-submit").ClickAsync();
        await Expect(page.GetByTestId("export-error")).ToContainTextAsync("Connection lost");
        await Expect(page.GetByTestId("export-submit")).ToBeEnabledAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Driver_DoesNotSeeTheExportScreen_NorReachesItByAddress()
    {
        var page = await app.LoginAsync("clara@demo.local", phone: true);
        await Expect(page.GetByRole(AriaRole.Navigation)).ToContainTextAsync("Meine Fahrten");
        await Expect(page.GetByTestId("nav-board-export")).ToHaveCountAsync(0);
        await page.GotoAsync("/board/export");
        await Expect(page).ToHaveURLAsync(new Regex("/drive$"));
        await Expect(page.GetByTestId("export-form")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }
}
