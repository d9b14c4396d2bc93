using System.Collections.Frozen;
using System.Security.Claims;
using Fahrtenbuch.Server.Infrastructure;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>The claim names in access tokens and cookie sessions.</summary>
public static class Claims
{
    public const string UserId = "sub";
    public const string CompanyId = "cid";
    public const string Role = "role";
    public const string SessionId = "sid";
    public const string Name = "name";

    /// <summary>The claims a request's principal keeps; the others in an access token are checked and dropped.</summary>
    public static readonly FrozenSet<string> Kept = FrozenSet.Create(UserId, CompanyId, Role, SessionId, Name);

    public static IEnumerable<Claim> For(User user, Guid sessionId) =>
    [
        new(UserId, user.Id.ToString()),
        new(CompanyId, user.CompanyId.ToString()),
        new(Role, user.Role.ToString()),
        new(SessionId, sessionId.ToString()),
        new(Name, user.DisplayName),
    ];
}

/// <summary>The authenticated caller, read from the claims of the request.</summary>
public sealed record CurrentUser(Guid Id, Guid CompanyId, UserRole Role, Guid SessionId)
{
    public bool SeesWholeCompany => Role is UserRole.FleetManager or UserRole.Auditor;

    public bool IsManager => Role == UserRole.FleetManager;

    /// <summary>
    /// Lets minimal API handlers take the caller as a parameter; endpoints that use it require authentication. The company
    /// scope has read the caller already (<c>UseCompanyScope</c>): the same object, not the claims parsed again.
    /// </summary>
    public static ValueTask<CurrentUser?> BindAsync(HttpContext context) =>
        ValueTask.FromResult(context.RequestServices.GetService<CompanyScope>()?.Caller ?? From(context.User));

    public static CurrentUser? From(ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(Claims.UserId), out var id)
        && Guid.TryParse(principal.FindFirstValue(Claims.CompanyId), out var company)
        && Enum.TryParse<UserRole>(principal.FindFirstValue(Claims.Role), out var role)
        && Guid.TryParse(principal.FindFirstValue(Claims.SessionId), out var session)
            ? new CurrentUser(id, company, role, session)
            : null;
}
