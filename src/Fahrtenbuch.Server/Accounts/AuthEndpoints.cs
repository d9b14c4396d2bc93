using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Accounts;

public sealed record LoginRequest([Required, EmailAddress, MaxLength(256)] string Email, [Required, MaxLength(256)] string Password, bool UseCookie = false);

public sealed record RefreshRequest([Required, MaxLength(200)] string RefreshToken);

public sealed record LogoutRequest([MaxLength(200)] string? RefreshToken);

public sealed record AcceptInvitationRequest([Required, EmailAddress, MaxLength(256)] string Email, [Required, MaxLength(200)] string Code, [Required, MaxLength(256)] string Password);

public sealed record CompanyInfo(Guid Id, string Name, string Country);

public sealed record MeResponse(Guid Id, string Email, string DisplayName, UserRole Role, CompanyInfo Company);

public static class AuthEndpoints
{
    public const string LoginRateLimit = "login";

    public static RouteGroupBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var auth = routes.MapGroup("/api/auth").WithTags("Accounts");
        auth.MapPost("/login", Login).RequireRateLimiting(LoginRateLimit).AllowAnonymous();
        auth.MapPost("/refresh", Refresh).RequireRateLimiting(LoginRateLimit).AllowAnonymous();
        auth.MapPost("/accept-invitation", AcceptInvitation).RequireRateLimiting(LoginRateLimit).AllowAnonymous();
        auth.MapPost("/logout", Logout).RequireAuthorization();
        routes.MapGet("/api/me", GetMe).WithTags("Accounts").RequireAuthorization();
        return auth;
    }

    /// <summary>Signs in with e-mail and password: tokens in the body, or with <c>useCookie</c> an HttpOnly session cookie.</summary>
    public static async Task<Results<Ok<TokenResponse>, Ok<MeResponse>>> Login(
        LoginRequest request, UserManager<User> users, TokenService tokens, AppDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var user = await users.FindByEmailAsync(request.Email);
        if (user is null)
        {
            throw InvalidCredentials();
        }

        if (await users.IsLockedOutAsync(user))
        {
            throw LockedOut(user);
        }

        if (!await users.CheckPasswordAsync(user, request.Password))
        {
            await users.AccessFailedAsync(user);
            throw await users.IsLockedOutAsync(user) ? LockedOut(user) : InvalidCredentials();
        }

        if (user.IsDisabled)
        {
            throw new DomainException(401, "auth.account-disabled", "The account is disabled. Ask your fleet manager.");
        }

        await users.ResetAccessFailedCountAsync(user);
        if (!request.UseCookie)
        {
            return TypedResults.Ok(await tokens.IssueAsync(user, Guid.CreateVersion7(), cancellationToken));
        }

        var session = await tokens.StartCookieSessionAsync(user, cancellationToken);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme,
            new ClaimsPrincipal(new ClaimsIdentity(Claims.For(user, session), CookieAuthenticationDefaults.AuthenticationScheme, Claims.Name, Claims.Role)));
        return TypedResults.Ok(await DescribeAsync(db, user, cancellationToken));
    }

    /// <summary>Exchanges a refresh token for a new pair; the presented token can never be used again.</summary>
    public static async Task<Ok<TokenResponse>> Refresh(RefreshRequest request, TokenService tokens, CancellationToken cancellationToken) =>
        TypedResults.Ok(await tokens.RefreshAsync(request.RefreshToken, cancellationToken));

    /// <summary>Ends the current session (and the session of a refresh token passed along).</summary>
    public static async Task<NoContent> Logout(LogoutRequest? request, CurrentUser me, TokenService tokens, AppDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        await tokens.RevokeFamilyAsync(me.SessionId, "logout", cancellationToken);
        if (request?.RefreshToken is { Length: > 0 } refresh)
        {
            var hash = Secrets.Hash(refresh);
            var family = await db.RefreshTokens.Where(t => t.TokenHash == hash && t.UserId == me.Id).Select(t => (Guid?)t.FamilyId).SingleOrDefaultAsync(cancellationToken);
            if (family is { } f)
            {
                await tokens.RevokeFamilyAsync(f, "logout", cancellationToken);
            }
        }

        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    /// <summary>Sets the password of an invited user with the one-time code and signs them in.</summary>
    public static async Task<Ok<TokenResponse>> AcceptInvitation(
        AcceptInvitationRequest request, UserManager<User> users, TokenService tokens, TimeProvider time, CancellationToken cancellationToken)
    {
        var user = await users.FindByEmailAsync(request.Email);
        if (user is not { HasPendingInvitation: true } || user.InvitationExpiresAt < time.GetUtcNow() || !Secrets.Matches(request.Code, user.InvitationHash!))
        {
            throw new DomainException(401, "auth.invitation-invalid", "The invitation code is invalid or has expired.");
        }

        if (user.IsDisabled)
        {
            throw new DomainException(401, "auth.account-disabled", "The account is disabled.");
        }

        var result = await users.AddPasswordAsync(user, request.Password);
        if (!result.Succeeded)
        {
            throw DomainException.Invalid("auth.password-rejected", string.Join(" ", result.Errors.Select(e => e.Description)));
        }

        user.AcceptInvitation();
        await users.UpdateAsync(user);
        return TypedResults.Ok(await tokens.IssueAsync(user, Guid.CreateVersion7(), cancellationToken));
    }

    public static async Task<Ok<MeResponse>> GetMe(CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        var user = await db.Users.SingleAsync(u => u.Id == me.Id, cancellationToken);
        return TypedResults.Ok(await DescribeAsync(db, user, cancellationToken));
    }

    private static async Task<MeResponse> DescribeAsync(AppDbContext db, User user, CancellationToken cancellationToken)
    {
        var company = await db.Companies.Where(c => c.Id == user.CompanyId)
            .Select(c => new CompanyInfo(c.Id, c.Name, c.Country)).SingleAsync(cancellationToken);
        return new MeResponse(user.Id, user.Email!, user.DisplayName, user.Role, company);
    }

    private static DomainException InvalidCredentials() =>
        new(401, "auth.invalid-credentials", "E-mail or password is wrong.");

    private static DomainException LockedOut(User user) =>
        new(429, "auth.locked-out", $"Too many failed sign-ins; the account is locked until {user.LockoutEnd:u}.");
}
