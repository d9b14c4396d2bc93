using System.ComponentModel.DataAnnotations;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Setup;

/// <summary>
/// Holds the one-time setup token of an empty installation. It is printed to the log at start and
/// lets exactly one request create the first company and its fleet manager; there is no default password.
/// </summary>
public sealed class SetupToken
{
    private readonly Lock _gate = new();
    private string? _hash;

    public bool IsOpen
    {
        get
        {
            lock (_gate)
            {
                return _hash is not null;
            }
        }
    }

    public string Open()
    {
        var token = Secrets.Create();
        lock (_gate)
        {
            _hash = Secrets.Hash(token);
        }

        return token;
    }

    /// <summary>Consumes the token if it matches; a second call with the same token fails.</summary>
    public bool TryConsume(string token)
    {
        lock (_gate)
        {
            if (_hash is null || !Secrets.Matches(token, _hash))
            {
                return false;
            }

            _hash = null;
            return true;
        }
    }

    public void Reopen(string hash)
    {
        lock (_gate)
        {
            _hash ??= hash;
        }
    }
}

public sealed record SetupRequest(
    [Required, MaxLength(200)] string SetupToken,
    [Required, MinLength(1), MaxLength(200)] string CompanyName,
    [Required, RegularExpression("^(DE|AT|CH)$")] string Country,
    [Required, EmailAddress, MaxLength(256)] string Email,
    [Required, MinLength(1), MaxLength(200)] string DisplayName,
    [Required, MaxLength(256)] string Password);

public static class SetupEndpoints
{
    public static RouteGroupBuilder MapSetup(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/setup").WithTags("Setup").AllowAnonymous().RequireRateLimiting(AuthEndpoints.LoginRateLimit);
        group.MapGet("/", (SetupToken token) => TypedResults.Ok(new { setupRequired = token.IsOpen }));
        group.MapPost("/", CreateFirstCompany);
        return group;
    }

    /// <summary>Creates the first company and its fleet manager with the setup token from the log.</summary>
    public static async Task<Ok<TokenResponse>> CreateFirstCompany(
        SetupRequest request, SetupToken setup, AppDbContext db, CompanyScope scope, UserManager<User> users, TokenService tokens, TimeProvider time, CancellationToken cancellationToken)
    {
        var hash = Secrets.Hash(request.SetupToken);
        if (!setup.TryConsume(request.SetupToken))
        {
            throw new DomainException(403, "setup.token-invalid", "Setup is closed or the setup token is wrong. The token is printed to the server log at first start.");
        }

        try
        {
            if (await db.Users.AnyAsync(cancellationToken))
            {
                throw new DomainException(403, "setup.token-invalid", "Setup has already been completed.");
            }

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var company = new Company(request.CompanyName.Trim(), request.Country, Instants.Normalize(time.GetUtcNow()));
            db.Companies.Add(company);
            await db.SaveChangesAsync(cancellationToken);
            scope.CompanyId = company.Id;
            var user = new User(company.Id, request.Email.Trim(), request.DisplayName.Trim(), UserRole.FleetManager, Instants.Normalize(time.GetUtcNow())) { EmailConfirmed = true };
            var result = await users.CreateAsync(user, request.Password);
            if (!result.Succeeded)
            {
                throw DomainException.Invalid("auth.password-rejected", string.Join(" ", result.Errors.Select(e => e.Description)));
            }

            await transaction.CommitAsync(CancellationToken.None);
            return TypedResults.Ok(await tokens.IssueAsync(user, Guid.CreateVersion7(), cancellationToken));
        }
        catch (DomainException e) when (e.Code != "setup.token-invalid")
        {
            // A rejected password must not burn the one-time token.
            setup.Reopen(hash);
            throw;
        }
    }
}
