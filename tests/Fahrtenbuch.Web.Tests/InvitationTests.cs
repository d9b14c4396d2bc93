using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Fahrtenbuch.Web.Tests;

/// <summary>An invited person accepts the invitation in the browser and is signed in.</summary>
public sealed partial class InvitationTests(WebAppFixture app)
{
    [Fact]
    public async Task InvitedDriver_AcceptsWithCodeAndPassword_AndLandsInTheDriverApp()
    {
        var chef = await app.LoginAsync("chef@demo.local");
        await chef.GetByTestId("nav-board-people").ClickAsync();
        var email = $"neu{Guid.NewGuid():N}"[..12] + "@example.org";
        await chef.Locator("input[name=displayName]").FillAsync("Nora Neu");
        await chef.Locator("input[name=email]").FillAsync(email);
        await chef.Locator("select[name=role]").SelectOptionAsync("driver");
        await chef.GetByRole(AriaRole.Button, new() { Name = "Einladen" }).ClickAsync();
        var notice = await chef.GetByTestId("invitation-code").TextContentAsync();
        var code = CodePattern().Match(notice!).Groups["code"].Value;
        Assert.False(string.IsNullOrEmpty(code), notice);
        await chef.Context.CloseAsync();

        var context = await app.NewContextAsync(phone: true);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/invite");
        await page.GetByTestId("invite-email").FillAsync(email);
        await page.GetByTestId("invite-code").FillAsync(code);
        await page.GetByTestId("invite-password").FillAsync("Nora-Neu-Passwort-1");
        await page.GetByTestId("invite-repeat").FillAsync("Nora-Neu-Passwort-2");
        await page.GetByTestId("invite-submit").ClickAsync();
        await Expect(page.GetByTestId("invite-error")).ToContainTextAsync("stimmen nicht überein");

        await page.GetByTestId("invite-repeat").FillAsync("Nora-Neu-Passwort-1");
        await page.GetByTestId("invite-submit").ClickAsync();
        await Expect(page.GetByTestId("who")).ToContainTextAsync("Nora Neu");
        await Expect(page.GetByRole(AriaRole.Navigation)).ToContainTextAsync("Meine Fahrten");
        await context.CloseAsync();
    }

    [GeneratedRegex(@": (?<code>\S+) \(")]
    private static partial Regex CodePattern();
}
