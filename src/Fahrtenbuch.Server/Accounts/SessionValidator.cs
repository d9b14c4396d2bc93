using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>
/// Answers "may this session still act?" for every authenticated request: the user exists and is
/// enabled and the session (token family) has not been revoked. Answers are cached for a few
/// seconds; changes made on this instance evict them at once.
/// </summary>
public sealed class SessionValidator(IServiceScopeFactory scopes, IMemoryCache cache, IOptions<AuthOptions> options)
{
    public async ValueTask<bool> IsActiveAsync(Guid userId, Guid sessionId, CancellationToken cancellationToken)
    {
        var key = CacheKey(sessionId);
        if (cache.TryGetValue(key, out bool active))
        {
            return active;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        active = await db.Users.AnyAsync(u => u.Id == userId && !u.IsDisabled, cancellationToken)
            && await db.RefreshTokens.AnyAsync(t => t.FamilyId == sessionId && t.UserId == userId, cancellationToken)
            && !await db.RefreshTokens.AnyAsync(t => t.FamilyId == sessionId && t.RevokedAt != null, cancellationToken);
        var seconds = options.Value.SessionCheckCacheSeconds;
        if (seconds > 0)
        {
            cache.Set(key, active, TimeSpan.FromSeconds(seconds));
        }

        return active;
    }

    public void Forget(Guid sessionId) => cache.Remove(CacheKey(sessionId));

    // A key of its own type cannot collide with other users of the shared cache and needs no string per request.
    private static SessionKey CacheKey(Guid sessionId) => new(sessionId);

    private sealed record SessionKey(Guid SessionId);
}
