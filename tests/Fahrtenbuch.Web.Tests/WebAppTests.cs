using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Fahrtenbuch.Web.Tests;

/// <summary>The driver app and the fleet board in a real Chromium against the real server.</summary>
public sealed class WebAppTests(WebAppFixture app)
{
    [Fact]
    public async Task Login_RendersGermanByDefault_AndSwitchesToEnglish()
    {
        var context = await app.NewContextAsync(phone: true);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Anmelden" })).ToBeVisibleAsync();
        await Expect(page.GetByLabel("Passwort")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "phone-login-de");

        await page.GetByTestId("login-email").FillAsync("anna@demo.local");
        await page.GetByTestId("login-password").FillAsync("wrong-password-123");
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page.GetByTestId("login-error")).ToContainTextAsync("wrong");

        await page.GetByTestId("login-password").FillAsync(WebAppFixture.Password);
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Navigation)).ToContainTextAsync("Meine Fahrten");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Fahrzeuge" })).ToBeVisibleAsync();
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "de");

        await page.GetByTestId("lang-toggle").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Navigation)).ToContainTextAsync("My trips");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Vehicles" })).ToBeVisibleAsync();
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "en");
        // English number format; the exact odometer depends on which other tests already drove the car.
        await Expect(page.GetByTestId("vehicle-list")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"48,2\d\d km"));
        await WebAppFixture.ScreenshotAsync(page, "phone-driver-home-en");

        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Navigation)).ToContainTextAsync("My trips");
        await context.CloseAsync();
    }

    [Fact]
    public async Task Driver_StartsAndCompletesATrip_ThroughTheUi()
    {
        var page = await app.LoginAsync("ben@demo.local", phone: true);
        var card = page.GetByTestId("vehicle-card").Filter(new() { HasText = "M FB 1002" });
        await Expect(card.GetByTestId("availability-M FB 1002")).ToHaveTextAsync("Frei");

        await page.GetByTestId("start-M FB 1002").ClickAsync();
        await Expect(page.GetByTestId("start-odometer")).ToHaveValueAsync("112530");
        await WebAppFixture.ScreenshotAsync(page, "phone-start-dialog");
        await page.GetByTestId("start-dialog-submit").ClickAsync();
        await Expect(page.GetByTestId("start-dialog")).ToHaveCountAsync(0);

        var active = page.GetByTestId("active-trip");
        await Expect(active).ToContainTextAsync("M FB 1002");
        await Expect(card.GetByTestId("availability-M FB 1002")).ToHaveTextAsync("Unterwegs");
        await page.GetByTestId("end-odometer").FillAsync("112572");
        await page.GetByTestId("field-destination").FillAsync("Augsburg, Messe");
        await page.GetByTestId("field-purpose").FillAsync("Kundentermin");
        await page.GetByTestId("field-businessPartner").FillAsync("Muster Logistik GmbH");
        await WebAppFixture.ScreenshotAsync(page, "phone-active-trip");
        await page.GetByTestId("complete-submit").ClickAsync();

        await Expect(page.GetByTestId("toast-success").Filter(new() { HasText = "42 km" })).ToBeVisibleAsync();
        await Expect(active).ToHaveCountAsync(0);
        await Expect(card.GetByTestId("availability-M FB 1002")).ToHaveTextAsync("Frei");
        await Expect(card).ToContainTextAsync("112.572 km");

        await page.GetByTestId("nav-trips").ClickAsync();
        var trip = page.GetByTestId("trip-card").Filter(new() { HasText = "Augsburg, Messe" });
        await Expect(trip.GetByTestId("trip-km")).ToHaveTextAsync("42 km");
        await Expect(trip).ToContainTextAsync("Dienstlich");
        await WebAppFixture.ScreenshotAsync(page, "phone-my-trips");

        await trip.GetByTestId("correct-trip").ClickAsync();
        await page.GetByTestId("correct-dialog").GetByTestId("field-purpose").FillAsync("Kundentermin und Messeaufbau");
        await page.GetByTestId("correct-dialog").GetByLabel("Grund der Korrektur").FillAsync("Zweck vergessen");
        await page.GetByTestId("correct-dialog-submit").ClickAsync();
        await Expect(trip.GetByTestId("badge-revisions")).ToHaveTextAsync("1 Korrektur(en)");
        await Expect(trip).ToContainTextAsync("Messeaufbau");

        var stored = await app.QueryAsync(db => db.Trips.IgnoreQueryFilters().Where(t => t.Destination == "Augsburg, Messe").ToListAsync());
        var single = Assert.Single(stored);
        Assert.Equal(TripState.Completed, single.State);
        Assert.Equal(42, single.DistanceKm);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ManagerBoard_ListsTheVehiclesWithTheirStatus()
    {
        var page = await app.LoginAsync("chef@demo.local");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/board$"));
        // Other test classes of this server add vehicles of their own; the five demo cars are always there.
        var rows = page.GetByTestId("board-row");
        foreach (var plate in new[] { "M FB 1001", "M FB 1002", "M FB 1003", "M FB 1004", "M FB 1005" })
        {
            await Expect(rows.Filter(new() { HasText = plate })).ToHaveCountAsync(1);
        }
        await Expect(page.GetByTestId("vehicle-board")).ToContainTextAsync("Škoda Octavia Combi");
        await Expect(page.GetByTestId("vehicle-board")).ToContainTextAsync("M FB 1005");
        await Expect(page.GetByTestId("kpis")).ToContainTextAsync("Frei");
        await Expect(page.GetByTestId("live-status")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "desktop-board");

        await page.GetByTestId("nav-board-vehicles").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Fahrzeuge verwalten" })).ToBeVisibleAsync();
        await page.GetByTestId("new-plate").FillAsync("M FB 1099");
        await page.GetByTestId("new-name").FillAsync("Opel Vivaro");
        await page.GetByTestId("new-vehicle-submit").ClickAsync();
        await Expect(page.GetByTestId("toast-success")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "desktop-vehicles");

        await page.GetByTestId("nav-board-people").ClickAsync();
        // The five demo people (other tests may have invited more).
        await Expect(page.GetByTestId("person-row").Filter(new() { HasText = "@demo.local" })).ToHaveCountAsync(5);
        await WebAppFixture.ScreenshotAsync(page, "desktop-people");

        await page.GetByTestId("nav-board-charts").ClickAsync();
        await Expect(page.GetByTestId("chart-categories")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "desktop-charts");

        await page.GetByTestId("nav-board-review").ClickAsync();
        await Expect(page.GetByTestId("review-queue")).ToBeVisibleAsync();
        await WebAppFixture.ScreenshotAsync(page, "desktop-review");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task PrivateTripOfAnotherDriver_ShowsKilometresOnly()
    {
        var anna = await app.LoginAsync("anna@demo.local", phone: true);
        await anna.GetByTestId("nav-late").ClickAsync();
        var vehicleId = await app.QueryAsync(db => db.Vehicles.IgnoreQueryFilters().Where(v => v.Plate == "M FB 1003").Select(v => v.Id).SingleAsync());
        await anna.GetByTestId("vehicle-select").SelectOptionAsync(vehicleId.ToString());
        await Expect(anna.GetByTestId("late-start-odometer")).ToHaveValueAsync("23870");
        // Not the form's default of the last hour: Anna drives another car "now" in other tests, and a trip of hers that
        // overlaps it is rightly held for review. Times are typed in the browser's time zone, and the trip must start
        // today, where the manager's list below looks for it.
        var browserNow = TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, TimeZoneInfo.FindSystemTimeZoneById(WebAppFixture.BrowserTimeZone)).DateTime;
        var started = browserNow.AddMinutes(-50) < browserNow.Date ? browserNow.Date : browserNow.AddMinutes(-50);
        var ended = browserNow.AddMinutes(-20);
        Assert.SkipWhen(ended - started < TimeSpan.FromMinutes(5), "Between 00:00 and 00:25 in the browser's time zone no past window of today is free of the other tests' trips.");
        await anna.GetByTestId("late-started").FillAsync(started.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await anna.GetByTestId("late-ended").FillAsync(ended.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await anna.GetByTestId("late-end-odometer").FillAsync("23907");
        await anna.GetByTestId("category-private").CheckAsync(new() { Force = true });
        await anna.GetByTestId("field-destination").FillAsync("Tegernsee privat");
        await WebAppFixture.ScreenshotAsync(anna, "phone-late-trip");
        await anna.GetByTestId("late-submit").ClickAsync();
        // Sent, even if the answer came after the app's "saved offline" threshold on a busy machine.
        await Expect(anna.GetByTestId("sync-status")).ToHaveAttributeAsync("data-state", "online", new() { Timeout = 15_000 });

        await anna.GetByTestId("nav-trips").ClickAsync();
        var own = anna.GetByTestId("trip-card").Filter(new() { HasText = "Tegernsee privat" });
        await Expect(own).ToContainTextAsync("Nachgetragen");
        await Expect(own.GetByTestId("restricted-note")).ToHaveCountAsync(0);

        var chef = await app.LoginAsync("chef@demo.local");
        await chef.GetByTestId("nav-board-trips").ClickAsync();
        var row = chef.GetByTestId("today-trips").GetByTestId("trip-row").Filter(new() { HasText = "Anna Albers" }).Filter(new() { HasText = "M FB 1003" });
        await Expect(row.GetByTestId("restricted-note")).ToContainTextAsync("nur Kilometer");
        await Expect(row.GetByTestId("trip-distance")).ToHaveTextAsync("37 km");
        await Expect(chef.GetByTestId("today-trips")).Not.ToContainTextAsync("Tegernsee");
        await WebAppFixture.ScreenshotAsync(chef, "desktop-trips");
        await anna.Context.CloseAsync();
        await chef.Context.CloseAsync();
    }

    [Fact]
    public async Task AppShell_OpensWithoutConnection_AfterTheFirstVisit()
    {
        var page = await app.LoginAsync("clara@demo.local", phone: true);
        await page.EvaluateAsync("() => navigator.serviceWorker.ready");
        await page.ReloadAsync();
        await page.WaitForFunctionAsync("() => navigator.serviceWorker.controller !== null");

        await page.Context.SetOfflineAsync(true);
        await page.ReloadAsync();
        await Expect(page.GetByTestId("app-header")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("vehicle-list")).ToContainTextAsync("M FB 1001");
        await Expect(page.GetByTestId("sync-status")).ToContainTextAsync("Offline");
        await WebAppFixture.ScreenshotAsync(page, "phone-offline");
        await page.Context.CloseAsync();
    }
}
