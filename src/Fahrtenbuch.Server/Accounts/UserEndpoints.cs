using System.ComponentModel.DataAnnotations;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Accounts;

public sealed record UserResponse(Guid Id, string Email, string DisplayName, UserRole Role, bool IsDisabled, bool InvitationPending, DateTimeOffset CreatedAt);

public sealed record InviteUserRequest([Required, EmailAddress, MaxLength(256)] string Email, [Required, MinLength(1), MaxLength(200)] string DisplayName, UserRole Role = UserRole.Driver);

public sealed record InvitationResponse(UserResponse User, string InvitationCode, DateTimeOffset ExpiresAt);

public sealed record UserEvent(Guid UserId, string DisplayName);

/// <summary>Fleet managers invite, disable and re-enable the people of their company.</summary>
public static class UserEndpoints
{
    public static RouteGroupBuilder MapUsers(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/users").WithTags("Accounts").RequireAuthorization();
        group.MapGet("/", List);
        group.MapPost("/", Invite).RequireAuthorization(AuthenticationSetup.ManagerPolicy);
        group.MapPost("/{id:guid}/disable", Disable).RequireAuthorization(AuthenticationSetup.ManagerPolicy);
        group.MapPost("/{id:guid}/enable", Enable).RequireAuthorization(AuthenticationSetup.ManagerPolicy);
        return group;
    }

    /// <summary>The people of the caller's company (drivers see names only, which the board needs).</summary>
    public static async Task<Ok<List<UserResponse>>> List(CurrentUser me, AppDbContext db, CancellationToken cancellationToken)
    {
        var users = await db.CompanyUsers.OrderBy(u => u.DisplayName).ToListAsync(cancellationToken);
        return TypedResults.Ok(users.Select(u => me.SeesWholeCompany ? ToResponse(u) : ToResponse(u) with { Email = "" }).ToList());
    }

    public static async Task<Created<InvitationResponse>> Invite(
        InviteUserRequest request, CurrentUser me, UserManager<User> users, EventLog log, IOptions<AuthOptions> options, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        if (await users.FindByEmailAsync(request.Email) is not null)
        {
            throw DomainException.Conflict("user.email-taken", "A user with this e-mail address already exists.");
        }

        var user = new User(me.CompanyId, request.Email.Trim(), request.DisplayName.Trim(), request.Role, write.Now);
        var code = Secrets.Create();
        var expires = write.Now.AddHours(options.Value.InvitationHours);
        user.Invite(Secrets.Hash(code), expires);
        var result = await users.CreateAsync(user);
        if (!result.Succeeded)
        {
            throw DomainException.Invalid("user.invalid", string.Join(" ", result.Errors.Select(e => e.Description)));
        }

        write.Append(EventTypes.UserInvited, new UserEvent(user.Id, user.DisplayName));
        await write.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/users/{user.Id}", new InvitationResponse(ToResponse(user), code, expires));
    }

    /// <summary>Disables a user: their sessions end at once, refresh fails, and live streams are told.</summary>
    public static async Task<Ok<UserResponse>> Disable(Guid id, CurrentUser me, AppDbContext db, EventLog log, TokenService tokens, CancellationToken cancellationToken)
    {
        if (id == me.Id)
        {
            throw DomainException.Conflict("user.cannot-disable-self", "You cannot disable your own account.");
        }

        await using var write = await log.BeginAsync(cancellationToken);
        var user = await db.CompanyUsers.SingleOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw DomainException.NotFound("user");
        if (!user.IsDisabled)
        {
            user.Disable();
            write.Append(EventTypes.UserDisabled, new UserEvent(user.Id, user.DisplayName), ownerId: user.Id);
        }

        await write.CommitAsync(cancellationToken);
        await tokens.RevokeAllAsync(user.Id, "user-disabled", cancellationToken);
        return TypedResults.Ok(ToResponse(user));
    }

    public static async Task<Ok<UserResponse>> Enable(Guid id, AppDbContext db, EventLog log, CancellationToken cancellationToken)
    {
        await using var write = await log.BeginAsync(cancellationToken);
        var user = await db.CompanyUsers.SingleOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw DomainException.NotFound("user");
        if (user.IsDisabled)
        {
            user.Enable();
            write.Append(EventTypes.UserEnabled, new UserEvent(user.Id, user.DisplayName), ownerId: user.Id);
        }

        await write.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToResponse(user));
    }

    internal static UserResponse ToResponse(User u) =>
        new(u.Id, u.Email!, u.DisplayName, u.Role, u.IsDisabled, u.HasPendingInvitation, u.CreatedAt);
}
