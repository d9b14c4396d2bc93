using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>Sign-in and token settings (section <c>Auth</c>).</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>JWT issuer and audience; change only together with every client's expectation.</summary>
    [Required]
    public string Issuer { get; set; } = "fahrtenbuch";

    /// <summary>Base64 HMAC-SHA256 key of at least 32 bytes; when empty one is generated into the data folder.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Lifetime of an access token: how long a disabled user's token can still live at most.</summary>
    [Range(1, 1440)]
    public int AccessTokenMinutes { get; set; } = 10;

    /// <summary>Lifetime of a refresh token and of a cookie session without activity.</summary>
    [Range(1, 365)]
    public int RefreshTokenDays { get; set; } = 30;

    /// <summary>Failed password attempts before an account is locked out.</summary>
    [Range(1, 100)]
    public int MaxFailedAttempts { get; set; } = 5;

    /// <summary>How long a lockout lasts.</summary>
    [Range(1, 1440)]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>How long an invitation code stays valid.</summary>
    [Range(1, 720)]
    public int InvitationHours { get; set; } = 72;

    /// <summary>How long a session check (disabled user, revoked session) may be served from memory.</summary>
    [Range(0, 300)]
    public int SessionCheckCacheSeconds { get; set; } = 5;

    /// <summary>
    /// How many validated access tokens are remembered so a repeated token skips parsing and the signature check
    /// (0 = validate every request in full); the session check still runs on every request.
    /// </summary>
    [Range(0, 1_000_000)]
    public int ValidatedTokenCacheSize { get; set; } = 10_000;
}
