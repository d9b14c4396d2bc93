using System.Security.Claims;
using System.Security.Cryptography;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Accounts;

public sealed record TokenResponse(string AccessToken, string RefreshToken, DateTimeOffset ExpiresAt, string TokenType = "Bearer");

/// <summary>Issues access tokens and rotates refresh tokens; a rotated token presented again revokes its whole family.</summary>
public sealed class TokenService(AppDbContext db, SigningKey signingKey, IOptions<AuthOptions> options, TimeProvider time, SessionValidator sessions)
{
    private readonly AuthOptions _options = options.Value;

    public async Task<TokenResponse> IssueAsync(User user, Guid familyId, CancellationToken cancellationToken)
    {
        var now = Instants.Normalize(time.GetUtcNow());
        var refresh = Secrets.Create();
        db.RefreshTokens.Add(new RefreshToken(user.Id, familyId, Secrets.Hash(refresh), now, now.AddDays(_options.RefreshTokenDays)));
        await db.SaveChangesAsync(cancellationToken);
        var expires = now.AddMinutes(_options.AccessTokenMinutes);
        return new TokenResponse(CreateAccessToken(user, familyId, now, expires), refresh, expires);
    }

    /// <summary>Records a cookie session as a family whose token is never handed out, so logout and disabling end it like any other.</summary>
    public async Task<Guid> StartCookieSessionAsync(User user, CancellationToken cancellationToken)
    {
        var now = Instants.Normalize(time.GetUtcNow());
        var family = Guid.CreateVersion7(now);
        db.RefreshTokens.Add(new RefreshToken(user.Id, family, Secrets.Hash(Secrets.Create()), now, now.AddDays(_options.RefreshTokenDays)));
        await db.SaveChangesAsync(cancellationToken);
        return family;
    }

    public async Task<TokenResponse> RefreshAsync(string refreshToken, CancellationToken cancellationToken)
    {
        var now = Instants.Normalize(time.GetUtcNow());
        var hash = Secrets.Hash(refreshToken);
        var token = await db.RefreshTokens.SingleOrDefaultAsync(t => t.TokenHash == hash, cancellationToken)
            ?? throw Unauthorized("auth.refresh-invalid", "The refresh token is unknown.");

        if (token.RotatedAt is not null)
        {
            await RevokeFamilyAsync(token.FamilyId, "reuse-detected", cancellationToken);
            throw Unauthorized("auth.refresh-reused", "The refresh token was already used; the session has been ended for safety. Sign in again.");
        }

        if (!token.IsUsable(now))
        {
            throw Unauthorized("auth.refresh-invalid", "The refresh token has expired or was revoked. Sign in again.");
        }

        var user = await db.Users.SingleAsync(u => u.Id == token.UserId, cancellationToken);
        if (user.IsDisabled)
        {
            await RevokeFamilyAsync(token.FamilyId, "user-disabled", cancellationToken);
            throw Unauthorized("auth.account-disabled", "The account is disabled.");
        }

        token.MarkRotated(now);
        return await IssueAsync(user, token.FamilyId, cancellationToken);
    }

    public async Task RevokeFamilyAsync(Guid familyId, string reason, CancellationToken cancellationToken)
    {
        var now = Instants.Normalize(time.GetUtcNow());
        var tokens = await db.RefreshTokens.Where(t => t.FamilyId == familyId).ToListAsync(cancellationToken);
        tokens.ForEach(t => t.Revoke(now, reason));
        await db.SaveChangesAsync(cancellationToken);
        sessions.Forget(familyId);
    }

    public async Task RevokeAllAsync(Guid userId, string reason, CancellationToken cancellationToken)
    {
        var now = Instants.Normalize(time.GetUtcNow());
        var tokens = await db.RefreshTokens.Where(t => t.UserId == userId && t.RevokedAt == null).ToListAsync(cancellationToken);
        tokens.ForEach(t => t.Revoke(now, reason));
        await db.SaveChangesAsync(cancellationToken);
        foreach (var family in tokens.Select(t => t.FamilyId).Distinct())
        {
            sessions.Forget(family);
        }
    }

    private string CreateAccessToken(User user, Guid familyId, DateTimeOffset now, DateTimeOffset expires) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Issuer,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Subject = new ClaimsIdentity(Claims.For(user, familyId)),
            SigningCredentials = new SigningCredentials(signingKey.Key, SecurityAlgorithms.HmacSha256),
        });

    private static DomainException Unauthorized(string code, string message) => new(StatusCodes.Status401Unauthorized, code, message);
}

/// <summary>The HMAC key that signs access tokens: from configuration, or generated once into the data folder.</summary>
public sealed class SigningKey
{
    public SigningKey(IOptions<AuthOptions> options, IOptions<StorageOptions> storage, ILogger<SigningKey> logger)
    {
        var configured = options.Value.SigningKey;
        byte[] bytes;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            bytes = Convert.FromBase64String(configured);
            if (bytes.Length < 32)
            {
                throw new InvalidOperationException("Auth:SigningKey must be at least 32 bytes (base64).");
            }
        }
        else
        {
            var path = Path.Combine(storage.Value.DataDirectory, "signing-key");
            if (File.Exists(path))
            {
                bytes = Convert.FromBase64String(File.ReadAllText(path).Trim());
            }
            else
            {
                bytes = RandomNumberGenerator.GetBytes(64);
                Directory.CreateDirectory(storage.Value.DataDirectory);
                File.WriteAllText(path, Convert.ToBase64String(bytes));
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                logger.LogWarning("No Auth:SigningKey configured; generated one at {Path}. Configure a shared key when running several instances.", path);
            }
        }

        Key = new SymmetricSecurityKey(bytes) { KeyId = Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] };
    }

    public SymmetricSecurityKey Key { get; }
}
