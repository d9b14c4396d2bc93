using static Microsoft.Playwright.Assertions;

namespace Fahrtenbuch.Web.Tests;

/// <summary>A backward odometer reading shows up in the review queue, and a fleet manager accepts it there.</summary>
public sealed class OdometerReviewScreenTests(WebAppFixture app)
{
    [Fact]
    public async Task FleetManager_AcceptsABackwardReading_FromTheReviewQueue()
    {
        var csrf = new Dictionary<string, string> { ["X-CSRF"] = "1" };
        var chef = await app.LoginAsync("chef@demo.local");
        var plate = $"R {Guid.NewGuid().ToString("N")[..6].ToUpperInvariant()}";
        var created = await chef.Context.APIRequest.PostAsync("/api/vehicles", new() { DataObject = new { plate, name = "Prüfwagen", initialOdometer = 5000 }, Headers = csrf });
        Assert.True(created.Ok, await created.TextAsync());
        var vehicleId = (await created.JsonAsync())!.Value.GetProperty("id").GetString();

        var ben = await app.LoginAsync("ben@demo.local", phone: true);
        var reading = await ben.Context.APIRequest.PostAsync($"/api/vehicles/{vehicleId}/odometer", new() { DataObject = new { value = 4200, note = "Display unscharf" }, Headers = csrf });
        Assert.True(reading.Ok, await reading.TextAsync());
        await ben.Context.CloseAsync();

        await chef.GetByTestId("nav-board-review").ClickAsync();
        var item = chef.GetByTestId("review-reading").Filter(new() { HasText = plate });
        await Expect(item).ToContainTextAsync("Kilometerstand rückläufig");
        await Expect(item).ToContainTextAsync("Display unscharf");
        await WebAppFixture.ScreenshotAsync(chef, "desktop-review-reading");
        await item.GetByTestId("review-reading-accept").ClickAsync();
        await chef.GetByTestId("accept-dialog").GetByLabel("Vermerk zur Prüfung").FillAsync("Mit Werkstattbeleg abgeglichen");
        await chef.GetByTestId("accept-dialog-submit").ClickAsync();
        await Expect(chef.GetByTestId("toast-success").Filter(new() { HasText = "Kilometerstand akzeptiert." })).ToBeVisibleAsync();
        await Expect(item).ToHaveCountAsync(0);
        await chef.Context.CloseAsync();
    }
}
