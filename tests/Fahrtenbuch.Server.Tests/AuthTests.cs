using System.Buffers.Text;
using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Trips;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Tests;

public sealed class AuthTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Login_ReturnsAccessAndRefreshToken_ThatOpenTheApi()
    {
        var response = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(TestApi.Anna, TestApi.DemoPassword));
        var tokens = await response.ReadAsync<TokenResponse>(HttpStatusCode.OK);

        Assert.False(string.IsNullOrEmpty(tokens.RefreshToken));
        Assert.Equal("Bearer", tokens.TokenType);
        Assert.InRange(tokens.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(1), DateTimeOffset.UtcNow.AddHours(1));
        var me = await app.CreateClient().WithBearer(tokens.AccessToken).GetJsonAsync<MeResponse>("/api/me");
        Assert.Equal(TestApi.Anna, me.Email);
        Assert.Equal(UserRole.Driver, me.Role);
        Assert.Equal("Demo Fuhrpark GmbH", me.Company.Name);
    }

    [Theory]
    [InlineData(TestApi.Anna, "wrong-password-123")]
    [InlineData("nobody@demo.local", TestApi.DemoPassword)]
    public async Task Login_ReturnsUnauthorized_WhenEmailOrPasswordIsWrong(string email, string password)
    {
        var before = await app.FingerprintAsync();

        var response = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, password));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.invalid-credentials");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Login_LocksTheAccountOut_AfterFiveFailedAttempts()
    {
        var (_, _, email, _) = await app.NewDriverAsync();
        var client = app.CreateClient();
        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var failed = await client.PostJsonAsync("/api/auth/login", new LoginRequest(email, "wrong-password-123"));
            await ProblemAssert.IsProblemAsync(failed, HttpStatusCode.Unauthorized, "auth.invalid-credentials");
        }

        var fifth = await client.PostJsonAsync("/api/auth/login", new LoginRequest(email, "wrong-password-123"));
        await ProblemAssert.IsProblemAsync(fifth, HttpStatusCode.TooManyRequests, "auth.locked-out");

        // Even the right password is refused while the lockout lasts.
        var correct = await client.PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword));
        await ProblemAssert.IsProblemAsync(correct, HttpStatusCode.TooManyRequests, "auth.locked-out");
    }

    [Fact]
    public async Task Me_ReturnsUnauthorized_WithoutCredentials()
    {
        var response = await app.CreateClient().GetAsync("/api/me", Ct);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Theory]
    [InlineData("GET", "/api/vehicles")]
    [InlineData("GET", "/api/trips")]
    [InlineData("GET", "/api/users")]
    [InlineData("POST", "/api/trips")]
    [InlineData("POST", "/api/vehicles")]
    [InlineData("POST", "/api/auth/logout")]
    public async Task ProtectedEndpoints_ReturnUnauthorized_WithoutCredentials(string method, string url)
    {
        var before = await app.FingerprintAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method == "POST")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        var response = await app.CreateClient().SendAsync(request, Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task Refresh_RotatesTheRefreshToken_AndTheOldOneCannotBeUsedAgain()
    {
        var first = await app.TokensAsync(TestApi.Ben);

        var second = await (await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(first.RefreshToken))).ReadAsync<TokenResponse>(HttpStatusCode.OK);

        Assert.NotEqual(first.RefreshToken, second.RefreshToken);
        var me = await app.CreateClient().WithBearer(second.AccessToken).GetJsonAsync<MeResponse>("/api/me");
        Assert.Equal(TestApi.Ben, me.Email);
    }

    [Fact]
    public async Task Refresh_RevokesTheWholeFamily_WhenARotatedTokenIsReused()
    {
        var (_, _, email, _) = await app.NewDriverAsync();
        var first = await app.TokensAsync(email);
        var second = await (await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(first.RefreshToken))).ReadAsync<TokenResponse>();

        var reuse = await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(first.RefreshToken));

        await ProblemAssert.IsProblemAsync(reuse, HttpStatusCode.Unauthorized, "auth.refresh-reused");
        var secondRefresh = await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(second.RefreshToken));
        await ProblemAssert.IsProblemAsync(secondRefresh, HttpStatusCode.Unauthorized, "auth.refresh-invalid");
        var access = await app.CreateClient().WithBearer(second.AccessToken).GetAsync("/api/me", Ct);
        await ProblemAssert.IsProblemAsync(access, HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task Refresh_ReturnsUnauthorized_WhenTheTokenIsUnknown()
    {
        var response = await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest("not-a-real-refresh-token"));
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.refresh-invalid");
    }

    [Fact]
    public async Task Logout_EndsTheSession_ForAccessAndRefreshToken()
    {
        var tokens = await app.TokensAsync(TestApi.Anna);
        var client = app.CreateClient().WithBearer(tokens.AccessToken);

        var response = await client.PostJsonAsync("/api/auth/logout", new LogoutRequest(tokens.RefreshToken));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await ProblemAssert.IsProblemAsync(await client.GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        var refresh = await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(tokens.RefreshToken));
        await ProblemAssert.IsProblemAsync(refresh, HttpStatusCode.Unauthorized, "auth.refresh-invalid");
    }

    [Fact]
    public async Task Logout_LeavesOtherSessionsOfTheSameUserAlive()
    {
        var phone = await app.TokensAsync(TestApi.Anna);
        var laptop = await app.As(TestApi.Anna);

        await app.CreateClient().WithBearer(phone.AccessToken).PostJsonAsync("/api/auth/logout", null);

        Assert.Equal(HttpStatusCode.OK, (await laptop.GetAsync("/api/me", Ct)).StatusCode);
    }

    [Fact]
    public async Task CookieLogin_SetsHttpOnlySecureSameSiteStrictCookie_ThatAuthenticatesReads()
    {
        var cookie = await CookieLoginAsync(TestApi.Anna);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        request.Headers.Add("Cookie", cookie);
        var me = await (await app.CreateClient().SendAsync(request, Ct)).ReadAsync<MeResponse>(HttpStatusCode.OK);
        Assert.Equal(TestApi.Anna, me.Email);
    }

    [Fact]
    public async Task CookieWrite_ReturnsForbidden_WhenTheCsrfHeaderIsMissing()
    {
        var vehicle = await app.NewVehicleAsync();
        var (_, _, email, _) = await app.NewDriverAsync();
        var cookie = await CookieLoginAsync(email);
        var before = await app.FingerprintAsync();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/trips") { Content = JsonContent.Create(new StartTripRequest(null, vehicle.Id, null, null, null), options: TestJson.Options) };
        request.Headers.Add("Cookie", cookie);
        var response = await app.CreateClient().SendAsync(request, Ct);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "auth.csrf-header-missing");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task CookieWrite_Succeeds_WithTheCsrfHeader()
    {
        var vehicle = await app.NewVehicleAsync();
        var (_, _, email, _) = await app.NewDriverAsync();
        var cookie = await CookieLoginAsync(email);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/trips") { Content = JsonContent.Create(new StartTripRequest(null, vehicle.Id, null, null, null), options: TestJson.Options) };
        request.Headers.Add("Cookie", cookie);
        request.Headers.Add(AuthenticationSetup.CsrfHeader, "1");
        var trip = await (await app.CreateClient().SendAsync(request, Ct)).ReadAsync<TripResponse>(HttpStatusCode.Created);

        Assert.Equal(TripState.Active, trip.State);
    }

    [Fact]
    public async Task CookieLogout_EndsTheCookieSession()
    {
        var cookie = await CookieLoginAsync(TestApi.Ben);
        using var logout = new HttpRequestMessage(HttpMethod.Post, "/api/auth/logout");
        logout.Headers.Add("Cookie", cookie);
        logout.Headers.Add(AuthenticationSetup.CsrfHeader, "1");
        Assert.Equal(HttpStatusCode.NoContent, (await app.CreateClient().SendAsync(logout, Ct)).StatusCode);

        // The old cookie value, replayed, must no longer open a session.
        using var me = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        me.Headers.Add("Cookie", cookie);
        await ProblemAssert.IsProblemAsync(await app.CreateClient().SendAsync(me, Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task DisabledUser_LosesAccessAtOnce_IncludingRefreshAndLogin()
    {
        var (driver, id, email, tokens) = await app.NewDriverAsync();
        var cookie = await CookieLoginAsync(email);
        Assert.Equal(HttpStatusCode.OK, (await driver.GetAsync("/api/me", Ct)).StatusCode);
        var chef = await app.As(TestApi.Chef);

        var disabled = await (await chef.PostJsonAsync($"/api/users/{id}/disable", null)).ReadAsync<UserResponse>(HttpStatusCode.OK);

        Assert.True(disabled.IsDisabled);
        await ProblemAssert.IsProblemAsync(await driver.GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        using var cookieRequest = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        cookieRequest.Headers.Add("Cookie", cookie);
        await ProblemAssert.IsProblemAsync(await app.CreateClient().SendAsync(cookieRequest, Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        var refresh = await app.CreateClient().PostJsonAsync("/api/auth/refresh", new RefreshRequest(tokens.RefreshToken));
        await ProblemAssert.IsProblemAsync(refresh, HttpStatusCode.Unauthorized, "auth.refresh-invalid");
        var login = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword));
        await ProblemAssert.IsProblemAsync(login, HttpStatusCode.Unauthorized, "auth.account-disabled");
    }

    [Fact]
    public async Task ExpiredToken_ReturnsUnauthorized_WithTokenExpiredCode()
    {
        var tokens = await app.TokensAsync(TestApi.Anna);
        var now = DateTime.UtcNow;
        var valid = Resign(tokens.AccessToken, RealSigningKey(), now.AddMinutes(-1), now.AddMinutes(5));
        var expired = Resign(tokens.AccessToken, RealSigningKey(), now.AddMinutes(-30), now.AddMinutes(-10));

        // The same forging recipe with a live expiry is accepted, so the refusal below is about the expiry alone.
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().WithBearer(valid).GetAsync("/api/me", Ct)).StatusCode);
        var response = await app.CreateClient().WithBearer(expired).GetAsync("/api/me", Ct);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.token-expired");
    }

    [Fact]
    public async Task ForgedToken_ReturnsUnauthorized_WhenSignedWithAnotherKey()
    {
        var tokens = await app.TokensAsync(TestApi.Anna);
        var forged = Resign(tokens.AccessToken, new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(64)), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(5));
        var before = await app.FingerprintAsync();

        var read = await app.CreateClient().WithBearer(forged).GetAsync("/api/me", Ct);
        var write = await app.CreateClient().WithBearer(forged).PostJsonAsync("/api/vehicles", new { plate = TestApi.NewPlate(), name = "x", initialOdometer = 1 });

        await ProblemAssert.IsProblemAsync(read, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        await ProblemAssert.IsProblemAsync(write, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task ForgedToken_ReturnsUnauthorized_WhenAlgorithmIsNone()
    {
        var tokens = await app.TokensAsync(TestApi.Chef);
        var payload = tokens.AccessToken.Split('.')[1];
        var header = Base64Url.EncodeToString("""{"alg":"none","typ":"JWT"}"""u8);
        var unsigned = $"{header}.{payload}.";
        var before = await app.FingerprintAsync();

        var read = await app.CreateClient().WithBearer(unsigned).GetAsync("/api/me", Ct);
        var write = await app.CreateClient().WithBearer(unsigned).PostJsonAsync("/api/vehicles", new { plate = TestApi.NewPlate(), name = "x", initialOdometer = 1 });

        await ProblemAssert.IsProblemAsync(read, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        await ProblemAssert.IsProblemAsync(write, HttpStatusCode.Unauthorized, "auth.unauthenticated");
        Assert.Equal(before, await app.FingerprintAsync());
    }

    [Fact]
    public async Task GarbageBearerToken_ReturnsUnauthorized()
    {
        var response = await app.CreateClient().WithBearer("not.a.jwt").GetAsync("/api/me", Ct);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    /// <summary>Logs in with <c>useCookie</c>, checks the cookie's attributes and returns the "name=value" pair to send back.</summary>
    private async Task<string> CookieLoginAsync(string email)
    {
        var response = await app.CreateClient().PostJsonAsync("/api/auth/login", new LoginRequest(email, TestApi.DemoPassword, UseCookie: true));
        var me = await response.ReadAsync<MeResponse>(HttpStatusCode.OK);
        Assert.Equal(email, me.Email);

        // HttpClient's CookieContainer never sends a Secure cookie over http, so the header is read and replayed by hand.
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(AuthenticationSetup.CookieName + "=", StringComparison.Ordinal));
        var attributes = setCookie.Split(';').Select(a => a.Trim().ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("secure", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.DoesNotContain(response.Headers.GetValues("Set-Cookie"), c => c.Contains("access", StringComparison.OrdinalIgnoreCase) && c.Contains("token", StringComparison.OrdinalIgnoreCase));
        return setCookie.Split(';')[0];
    }

    private SymmetricSecurityKey RealSigningKey() =>
        new(Convert.FromBase64String(File.ReadAllText(Path.Combine(app.DataDirectory, "signing-key")).Trim()));

    /// <summary>Copies the claims of a real access token into a new token with the given lifetime and key.</summary>
    private static string Resign(string accessToken, SecurityKey key, DateTime notBefore, DateTime expires)
    {
        var original = new JsonWebTokenHandler().ReadJsonWebToken(accessToken);
        var claims = original.Claims.Where(c => c.Type is Claims.UserId or Claims.CompanyId or Claims.Role or Claims.SessionId or Claims.Name);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = original.Issuer,
            Audience = original.Audiences.Single(),
            IssuedAt = notBefore,
            NotBefore = notBefore,
            Expires = expires,
            Subject = new ClaimsIdentity(claims),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }
}

/// <summary>A server whose login limit is low enough to hit in a test.</summary>
public sealed class LowLoginLimitAppFactory : AppFactory
{
    protected override Dictionary<string, string?> Settings => new() { ["Limits:LoginPerMinute"] = "3" };
}

public sealed class LoginRateLimitTests(LowLoginLimitAppFactory app) : IClassFixture<LowLoginLimitAppFactory>
{
    [Fact]
    public async Task Login_ReturnsTooManyRequests_WhenThePerMinuteLimitIsExceeded()
    {
        var client = app.CreateClient();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var allowed = await client.PostJsonAsync("/api/auth/login", new LoginRequest("nobody@demo.local", "wrong-password-123"));
            await ProblemAssert.IsProblemAsync(allowed, HttpStatusCode.Unauthorized, "auth.invalid-credentials");
        }

        var before = await app.FingerprintAsync();
        var limited = await client.PostJsonAsync("/api/auth/login", new LoginRequest(TestApi.Anna, TestApi.DemoPassword));

        await ProblemAssert.IsProblemAsync(limited, HttpStatusCode.TooManyRequests, "request.rate-limited");
        Assert.True(limited.Headers.RetryAfter is not null, "A rate-limited response tells the client when to retry.");
        Assert.Equal(before, await app.FingerprintAsync());
    }
}
