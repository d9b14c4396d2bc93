using System.Buffers.Text;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Fahrtenbuch.Server.Accounts;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Tests;

/// <summary>A token the server has already validated once must not get through on anything but its own merits.</summary>
public sealed class ValidatedTokenTests(AppFactory app) : IClassFixture<AppFactory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RepeatedToken_IsRefused_AtOnce_WhenItsSessionIsRevoked()
    {
        var tokens = await app.TokensAsync(TestApi.Anna);
        var client = app.CreateClient().WithBearer(tokens.AccessToken);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/me", Ct)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.PostJsonAsync("/api/auth/logout", new LogoutRequest(tokens.RefreshToken))).StatusCode);

        await ProblemAssert.IsProblemAsync(await client.GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task RepeatedToken_IsRefused_AtOnce_WhenItsUserIsDisabled()
    {
        var (driver, id, _, _) = await app.NewDriverAsync();
        Assert.Equal(HttpStatusCode.OK, (await driver.GetAsync("/api/me", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await driver.GetAsync("/api/me", Ct)).StatusCode);

        await (await app.As(TestApi.Chef)).PostJsonAsync($"/api/users/{id}/disable", null);

        await ProblemAssert.IsProblemAsync(await driver.GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task TokenWithAChangedPayload_IsRefused_WhileTheGenuineOneIsRemembered()
    {
        var tokens = await app.TokensAsync(TestApi.Anna);
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().WithBearer(tokens.AccessToken).GetAsync("/api/me", Ct)).StatusCode);
        var parts = tokens.AccessToken.Split('.');
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1]));
        var promoted = payload.Replace("\"Driver\"", "\"FleetManager\"", StringComparison.Ordinal);
        Assert.NotEqual(payload, promoted);
        var forged = $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(promoted))}.{parts[2]}";
        var truncatedSignature = $"{parts[0]}.{parts[1]}.{parts[2][..^2]}";

        await ProblemAssert.IsProblemAsync(await app.CreateClient().WithBearer(forged).GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        await ProblemAssert.IsProblemAsync(await app.CreateClient().WithBearer(truncatedSignature).GetAsync("/api/me", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task RememberedToken_IsRefusedAsExpired_OnceItsLifetimeAndTheClockSkewHavePassed()
    {
        // IdentityModel reads the system clock, so the token is made to leave its clock-skew window three seconds from now.
        var (key, parameters) = Parameters();
        var expires = DateTime.UtcNow - parameters.ClockSkew + TimeSpan.FromSeconds(3);
        var token = Issue(key, expires - TimeSpan.FromMinutes(10), expires);
        using var handler = new ValidatedTokens(Options.Create(new AuthOptions()));
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        while (DateTime.UtcNow <= expires + parameters.ClockSkew + TimeSpan.FromMilliseconds(50))
        {
            await Task.Delay(100, Ct);
        }

        var expired = await handler.ValidateTokenAsync(token, parameters);

        Assert.False(expired.IsValid);
        Assert.IsType<SecurityTokenExpiredException>(expired.Exception);
    }

    [Fact]
    public async Task RememberedToken_IsRefused_WhenTheSigningKeyIsNoLongerTheOneThatVerifiedIt()
    {
        var (key, parameters) = Parameters();
        var token = Issue(key, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(10));
        using var handler = new ValidatedTokens(Options.Create(new AuthOptions()));
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        var rotated = parameters.Clone();
        rotated.IssuerSigningKey = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(64));

        Assert.False((await handler.ValidateTokenAsync(token, rotated)).IsValid);
    }

    [Fact]
    public async Task RememberedToken_GivesEachRequestItsOwnIdentity()
    {
        var (key, parameters) = Parameters();
        var token = Issue(key, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(10));
        using var handler = new ValidatedTokens(Options.Create(new AuthOptions()));
        var first = (await handler.ValidateTokenAsync(token, parameters)).ClaimsIdentity;
        var second = (await handler.ValidateTokenAsync(token, parameters)).ClaimsIdentity;
        first.AddClaim(new Claim(Claims.Role, nameof(UserRole.FleetManager)));
        second.AddClaim(new Claim(Claims.Role, nameof(UserRole.FleetManager)));

        var third = (await handler.ValidateTokenAsync(token, parameters)).ClaimsIdentity;

        Assert.Equal([nameof(UserRole.Driver)], third.FindAll(Claims.Role).Select(c => c.Value));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(0)]
    public async Task Identity_HoldsOnlyTheClaimsTheServerReads_FirstTimeAndRemembered(int cacheSize)
    {
        var (key, parameters) = Parameters();
        var token = Issue(key, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(10));
        using var handler = new ValidatedTokens(Options.Create(new AuthOptions { ValidatedTokenCacheSize = cacheSize }));

        foreach (var result in new[] { await handler.ValidateTokenAsync(token, parameters), await handler.ValidateTokenAsync(token, parameters) })
        {
            Assert.True(result.IsValid);
            Assert.Equal([Claims.Role, Claims.UserId], result.ClaimsIdentity.Claims.Select(c => c.Type).Order(StringComparer.Ordinal));
            Assert.All(result.ClaimsIdentity.Claims, c => Assert.Empty(c.Properties));
            Assert.Equal(nameof(UserRole.Driver), result.ClaimsIdentity.FindFirst(result.ClaimsIdentity.RoleClaimType)?.Value);
            Assert.True(result.ClaimsIdentity.IsAuthenticated);

            // What was dropped was still checked: the lifetime and the issuer are on the token the result carries.
            Assert.Equal("fahrtenbuch", result.Issuer);
        }
    }

    private static (SymmetricSecurityKey Key, TokenValidationParameters Parameters) Parameters()
    {
        var key = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(64));
        return (key, new TokenValidationParameters
        {
            ValidIssuer = "fahrtenbuch",
            ValidAudience = "fahrtenbuch",
            IssuerSigningKey = key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            RequireExpirationTime = true,
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }

    private static string Issue(SecurityKey key, DateTime notBefore, DateTime expires) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "fahrtenbuch",
        Audience = "fahrtenbuch",
        IssuedAt = notBefore,
        NotBefore = notBefore,
        Expires = expires,
        Subject = new ClaimsIdentity([new Claim(Claims.UserId, Guid.NewGuid().ToString()), new Claim(Claims.Role, nameof(UserRole.Driver))]),
        SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
    });
}
