using System.Net;
using Fahrtenbuch.Server.Accounts;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Tests;

public sealed class UserTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ListUsers_ShowsTheCompanyWithEmails_ToTheFleetManager()
    {
        var chef = await app.As(TestApi.Chef);

        var users = await chef.GetJsonAsync<List<UserResponse>>("/api/users");

        Assert.Contains(users, u => u.Email == TestApi.Anna && u.Role == UserRole.Driver);
        Assert.Contains(users, u => u.Email == TestApi.Auditor && u.Role == UserRole.Auditor);
        Assert.DoesNotContain(users, u => u.Email == TestApi.OtherChef);
    }

    [Fact]
    public async Task ListUsers_ShowsNamesButNoEmails_ToADriver()
    {
        var anna = await app.As(TestApi.Anna);

        var users = await anna.GetJsonAsync<List<UserResponse>>("/api/users");

        Assert.Contains(users, u => u.DisplayName == "Ben Becker");
        Assert.All(users, u => Assert.Equal("", u.Email));
    }

    [Fact]
    public async Task Invite_ReturnsInvitationCode_AndAcceptingItSignsTheUserIn()
    {
        var chef = await app.As(TestApi.Chef);
        var email = $"neu{Guid.NewGuid():N}@demo.local";

        var response = await chef.PostJsonAsync("/api/users", new InviteUserRequest(email, "Nina Neu", UserRole.Driver));
        var invitation = await response.ReadAsync<InvitationResponse>(HttpStatusCode.Created);

        Assert.Equal($"/api/users/{invitation.User.Id}", response.Headers.Location?.OriginalString);
        Assert.True(invitation.User.InvitationPending);
        Assert.False(string.IsNullOrWhiteSpace(invitation.InvitationCode));
        Assert.True(invitation.ExpiresAt > DateTimeOffset.UtcNow);

        // Before accepting, the invited user has no password to sign in with.
        var early = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword));
        await ProblemAssert.IsProblemAsync(early, HttpStatusCode.Unauthorized, "auth.invalid-credentials");

        var tokens = await (await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, "ein-langes-passwort")))
            .ReadAsync<TokenResponse>(HttpStatusCode.OK);
        var me = await app.CreateClient().WithBearer(tokens.AccessToken).GetJsonAsync<MeResponse>("/api/me");
        Assert.Equal("Nina Neu", me.DisplayName);
        Assert.Equal("Demo Fuhrpark GmbH", me.Company.Name);
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, "ein-langes-passwort"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var listed = await chef.GetJsonAsync<List<UserResponse>>("/api/users");
        Assert.False(listed.Single(u => u.Email == email).InvitationPending);
    }

    [Fact]
    public async Task AcceptInvitation_ReturnsUnauthorized_WhenTheCodeIsWrongOrAlreadyUsed()
    {
        var chef = await app.As(TestApi.Chef);
        var email = $"neu{Guid.NewGuid():N}@demo.local";
        var invitation = await (await chef.PostJsonAsync("/api/users", new InviteUserRequest(email, "Otto Once", UserRole.Driver))).ReadAsync<InvitationResponse>();

        var wrong = await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, "wrong-code", "ein-langes-passwort"));
        await ProblemAssert.IsProblemAsync(wrong, HttpStatusCode.Unauthorized, "auth.invitation-invalid");

        var first = await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, "ein-langes-passwort"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var again = await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, "ein-anderes-passwort"));
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.Unauthorized, "auth.invitation-invalid");
    }

    [Fact]
    public async Task AcceptInvitation_RefusesAShortPassword_AndKeepsTheInvitationOpen()
    {
        var chef = await app.As(TestApi.Chef);
        var email = $"neu{Guid.NewGuid():N}@demo.local";
        var invitation = await (await chef.PostJsonAsync("/api/users", new InviteUserRequest(email, "Kurt Kurz", UserRole.Driver))).ReadAsync<InvitationResponse>();

        var shortPassword = await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, "kurz"));

        await ProblemAssert.IsProblemAsync(shortPassword, HttpStatusCode.UnprocessableEntity, "auth.password-rejected");
        var retry = await app.CreateClient().PostJsonAsync("/api/auth/accept-invitation", new AcceptInvitationRequest(email, invitation.InvitationCode, "ein-langes-passwort"));
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
    }

    [Fact]
    public async Task Invite_ReturnsConflict_WhenTheEmailIsTaken()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostJsonAsync("/api/users", new InviteUserRequest(TestApi.Anna, "Anna Zwei", UserRole.Driver));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "user.email-taken");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Invite_ReturnsBadRequest_WhenTheEmailIsMissingOrInvalid()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var missing = await chef.PostRawAsync("/api/users", """{"displayName":"Ohne Mail"}""");
        var invalid = await chef.PostJsonAsync("/api/users", new InviteUserRequest("keine-mail", "Falsche Mail", UserRole.Driver));

        var problem = await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.BadRequest, "request.invalid");
        Assert.True(problem.TryGetProperty("errors", out _), "A validation problem lists the fields.");
        await ProblemAssert.IsProblemAsync(invalid, HttpStatusCode.BadRequest, "request.invalid");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Theory]
    [InlineData(TestApi.Anna)]
    [InlineData(TestApi.Auditor)]
    public async Task Invite_ReturnsForbidden_ForAnyoneButTheFleetManager(string email)
    {
        var caller = await app.As(email);
        var before = await app.FingerprintAsync();

        var response = await caller.PostJsonAsync("/api/users", new InviteUserRequest($"x{Guid.NewGuid():N}@demo.local", "Nicht Erlaubt", UserRole.FleetManager));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task DisableAndEnable_ChangeTheUser_AndWriteEvents()
    {
        var (_, id, email, _) = await app.NewDriverAsync();
        var chef = await app.As(TestApi.Chef);

        var disabled = await (await chef.PostJsonAsync($"/api/users/{id}/disable", null)).ReadAsync<UserResponse>(HttpStatusCode.OK);
        var enabled = await (await chef.PostJsonAsync($"/api/users/{id}/enable", null)).ReadAsync<UserResponse>(HttpStatusCode.OK);

        Assert.True(disabled.IsDisabled);
        Assert.False(enabled.IsDisabled);
        var types = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().Where(e => e.OwnerId == id).Select(e => e.Type).ToListAsync(Ct));
        Assert.Equal(["user.disabled", "user.enabled"], types);
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task Disable_ReturnsConflict_ForTheCallersOwnAccount()
    {
        var chef = await app.As(TestApi.Chef);
        var id = await chef.UserIdAsync();
        var before = await app.FingerprintAsync();

        var response = await chef.PostJsonAsync($"/api/users/{id}/disable", null);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "user.cannot-disable-self");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Disable_ReturnsForbidden_ForADriver()
    {
        var anna = await app.As(TestApi.Anna);
        var ben = await (await app.As(TestApi.Ben)).UserIdAsync();
        var before = await app.FingerprintAsync();

        var response = await anna.PostJsonAsync($"/api/users/{ben}/disable", null);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.forbidden");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Disable_ReturnsNotFound_ForAnUnknownUser()
    {
        var chef = await app.As(TestApi.Chef);
        var before = await app.FingerprintAsync();

        var response = await chef.PostJsonAsync($"/api/users/{Guid.CreateVersion7()}/disable", null);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "user.not-found");
        Assert.Equal(before, await app.FingerprintAsync());
    }
}
