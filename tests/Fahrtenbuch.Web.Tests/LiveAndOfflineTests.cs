using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Fahrtenbuch.Web.Tests;

/// <summary>
/// Live updates through GET /api/events, offline work through POST /api/sync and the review queue.
/// </summary>
public sealed class LiveAndOfflineTests(WebAppFixture app)
{
    private static readonly LocatorAssertionsToHaveAttributeOptions WithinASecond = new() { Timeout = 1000 };

    [Fact]
    public async Task ManagerBoard_ShowsTheCarInUseWithinASecond_WithoutReload()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        await Expect(chef.GetByTestId("live-status")).ToHaveAttributeAsync("data-state", "live");
        var row = chef.GetByTestId("board-row").And(chef.Locator("[data-plate='M FB 1001']"));
        await Expect(row).ToHaveAttributeAsync("data-availability", "available");

        var driver = await app.LoginAsync("anna@demo.local", phone: true);
        await driver.GetByTestId("start-M FB 1001").ClickAsync();
        await driver.GetByTestId("start-dialog-submit").ClickAsync();
        await Expect(driver.GetByTestId("start-dialog")).ToHaveCountAsync(0);

        await Expect(row).ToHaveAttributeAsync("data-availability", "in-use", WithinASecond);
        await Expect(row.GetByTestId("board-driver")).ToContainTextAsync("Anna Albers");
        await Expect(chef.GetByTestId("active-trips")).ToContainTextAsync("Anna Albers");
        await WebAppFixture.ScreenshotAsync(chef, "desktop-board-live");

        await driver.GetByTestId("end-odometer").FillAsync("48225");
        await driver.GetByTestId("category-commute").CheckAsync(new() { Force = true });
        await driver.GetByTestId("complete-submit").ClickAsync();
        await Expect(driver.GetByTestId("active-trip")).ToHaveCountAsync(0);

        await Expect(row).ToHaveAttributeAsync("data-availability", "available", WithinASecond);
        await Expect(row).ToContainTextAsync("48.225 km");
        await Expect(driver.GetByTestId("vehicle-card").Filter(new() { HasText = "M FB 1001" })).ToContainTextAsync("48.225 km");
        await driver.Context.CloseAsync();
        await chef.Context.CloseAsync();
    }

    [Fact]
    public async Task OfflineTrip_SurvivesAReload_AndReachesTheServerExactlyOnce()
    {
        var page = await app.LoginAsync("clara@demo.local", phone: true);
        await page.EvaluateAsync("() => navigator.serviceWorker.ready");
        await page.ReloadAsync();
        await page.WaitForFunctionAsync("() => navigator.serviceWorker.controller !== null");

        await page.Context.SetOfflineAsync(true);
        await page.GetByTestId("start-M FB 1004").ClickAsync();
        await page.GetByTestId("start-dialog-submit").ClickAsync();
        await Expect(page.GetByTestId("active-trip")).ToContainTextAsync("M FB 1004");
        await Expect(page.GetByTestId("active-pending")).ToBeVisibleAsync();
        await page.GetByTestId("end-odometer").FillAsync("9460");
        await page.GetByTestId("field-destination").FillAsync("Offline-Ziel Rosenheim");
        await page.GetByTestId("field-purpose").FillAsync("Lieferung");
        await page.GetByTestId("field-businessPartner").FillAsync("Bäckerei Huber");
        await page.GetByTestId("complete-submit").ClickAsync();
        await Expect(page.GetByTestId("sync-status")).ToContainTextAsync("2 Änderung(en) warten");

        await page.ReloadAsync();
        await Expect(page.GetByTestId("sync-status")).ToContainTextAsync("2 Änderung(en) warten");
        await page.GetByTestId("nav-trips").ClickAsync();
        var trip = page.GetByTestId("trip-card").Filter(new() { HasText = "Offline-Ziel Rosenheim" });
        await Expect(trip.GetByTestId("badge-pending")).ToBeVisibleAsync();
        await Expect(trip.GetByTestId("trip-km")).ToHaveTextAsync("45 km");
        await WebAppFixture.ScreenshotAsync(page, "phone-offline-queue");

        await page.Context.SetOfflineAsync(false);
        await Expect(page.GetByTestId("sync-status")).ToHaveAttributeAsync("data-state", "online", new() { Timeout = 10_000 });
        await Expect(trip.GetByTestId("badge-pending")).ToHaveCountAsync(0);

        var stored = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.Destination == "Offline-Ziel Rosenheim").ToListAsync());
        var single = Assert.Single(stored);
        Assert.Equal(TripState.Completed, single.State);
        Assert.Equal(45, single.DistanceKm);

        var chef = await app.LoginAsync("chef@demo.local");
        await chef.GetByTestId("nav-board-trips").ClickAsync();
        await Expect(chef.GetByTestId("today-trips")).ToContainTextAsync("Offline-Ziel Rosenheim");
        await page.Context.CloseAsync();
        await chef.Context.CloseAsync();
    }

    [Fact]
    public async Task ConflictCreatedOffline_ShowsAsNeedsReview_AndAcceptingItClearsTheBadgeForBoth_WithoutReload()
    {
        var page = await app.LoginAsync("ben@demo.local", phone: true);
        var vehicleId = (await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Where(v => v.Plate == "M FB 1005").Select(v => v.Id).SingleAsync())).ToString();
        var start = DateTime.Now.AddHours(-5);
        await RecordLateAsync(page, vehicleId, start, start.AddHours(1), 76_002, 76_060, "Erste Fahrt Landshut");
        // On a busy machine the first answer can take longer than the app waits before it says "saved offline"; what counts is
        // that it reached the server before the phone goes offline. The chip alone cannot say so: it reads "online" before the
        // submit handler has queued the change, too.
        await WaitUntilStoredAsync("Erste Fahrt Landshut");
        await Expect(page.GetByTestId("sync-status")).ToHaveAttributeAsync("data-state", "online", new() { Timeout = 15_000 });

        await page.Context.SetOfflineAsync(true);
        await RecordLateAsync(page, vehicleId, start.AddMinutes(30), start.AddMinutes(90), 76_030, 76_090, "Doppelte Fahrt Freising");
        await Expect(page.GetByTestId("sync-status")).ToContainTextAsync("1 Änderung(en) warten");
        await page.Context.SetOfflineAsync(false);

        await Expect(page.GetByTestId("notice-conflict")).ToBeVisibleAsync(new() { Timeout = 10_000 });
        await page.GetByTestId("nav-trips").ClickAsync();
        var trip = page.GetByTestId("trip-card").Filter(new() { HasText = "Doppelte Fahrt Freising" });
        await Expect(trip.GetByTestId("badge-review")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "phone-conflict");

        var chef = await app.LoginAsync("chef@demo.local");
        await chef.GetByTestId("nav-board-review").ClickAsync();
        await Expect(chef.GetByTestId("review-queue")).ToContainTextAsync("Doppelte Fahrt Freising");
        await Expect(chef.GetByTestId("review-queue")).ToContainTextAsync("Erste Fahrt Landshut");
        await WebAppFixture.ScreenshotAsync(chef, "desktop-review-conflict");

        // The manager accepts the offline trip from the queue; driver and manager see it without a reload.
        var row = chef.GetByTestId("trip-row").Filter(new() { HasText = "Doppelte Fahrt Freising" });
        await row.GetByTestId("review-accept").ClickAsync();
        await chef.GetByTestId("accept-dialog").Locator("textarea").FillAsync("Zweite Fahrt bestätigt");
        await chef.GetByTestId("accept-dialog-submit").ClickAsync();
        await Expect(chef.GetByTestId("toast-success")).ToBeVisibleAsync();
        await Expect(row).ToHaveCountAsync(0);
        await Expect(chef.GetByTestId("review-queue")).ToContainTextAsync("Erste Fahrt Landshut");
        await Expect(trip.GetByTestId("badge-review")).ToHaveCountAsync(0, new() { Timeout = 2000 });
        await Expect(page.GetByTestId("trip-card").Filter(new() { HasText = "Erste Fahrt Landshut" }).GetByTestId("badge-review")).ToBeVisibleAsync();

        var stored = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().SingleAsync(t => t.Destination == "Doppelte Fahrt Freising"));
        Assert.Equal(ReviewState.Resolved, stored.Review);
        await page.Context.CloseAsync();
        await chef.Context.CloseAsync();
    }

    private async Task WaitUntilStoredAsync(string destination)
    {
        for (var attempt = 0; attempt < 150; attempt++)
        {
            if (await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().AnyAsync(t => t.Destination == destination)))
            {
                return;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"The trip to '{destination}' did not reach the server within 15 s.");
    }

    private static async Task RecordLateAsync(IPage page, string vehicleId, DateTime from, DateTime to, int startKm, int endKm, string destination)
    {
        await page.GetByTestId("nav-late").ClickAsync();
        await page.GetByTestId("vehicle-select").SelectOptionAsync(vehicleId);
        await page.GetByTestId("late-started").FillAsync(from.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByTestId("late-ended").FillAsync(to.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByTestId("late-start-odometer").FillAsync(startKm.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByTestId("late-end-odometer").FillAsync(endKm.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByTestId("field-destination").FillAsync(destination);
        await page.GetByTestId("field-purpose").FillAsync("Wartung");
        await page.GetByTestId("field-businessPartner").FillAsync("Autohaus Süd");
        await page.GetByTestId("late-submit").ClickAsync();
    }
}
