using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>
/// The bearer scheme's token handler: validates an access token fully (signature, algorithm, issuer, audience, lifetime)
/// the first time it is seen, and remembers the result for the exact same token string, so a client that sends its token
/// with every request (an SSE reconnect storm, a driver's writes) does not pay for parsing the JSON and the HMAC again.
/// </summary>
/// <remarks>
/// Only what the token itself proves is remembered. The lifetime is checked again on every use with the same validator and
/// parameters as a full validation, and the session check (revoked session, disabled user) still runs on every request
/// after this handler (<c>OnTokenValidated</c>), so revocation stays as immediate as before. The key is the whole token
/// including its signature: a token that differs in one character is a different key and is validated in full.
/// </remarks>
public sealed class ValidatedTokens : TokenHandler, IDisposable
{
    private readonly JsonWebTokenHandler _inner = new() { MapInboundClaims = false };
    private readonly MemoryCache? _validated;

    public ValidatedTokens(IOptions<AuthOptions> options)
    {
        var capacity = options.Value.ValidatedTokenCacheSize;
        _validated = capacity > 0 ? new MemoryCache(new MemoryCacheOptions { SizeLimit = capacity }) : null;
    }

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        ArgumentNullException.ThrowIfNull(validationParameters);
        if (_validated is not null && _validated.TryGetValue(token, out Validated? known)
            && ReferenceEquals(known!.SigningKey, validationParameters.IssuerSigningKey) && IsCurrent(known.Token, validationParameters))
        {
            // Each request gets its own identity: a handler that adds a claim must not change what the next request sees.
            return new TokenValidationResult
            {
                IsValid = true,
                SecurityToken = known.Token,
                ClaimsIdentity = known.Identity.Clone(),
                Issuer = known.Token.Issuer,
                TokenType = known.Token.Typ,
            };
        }

        var result = await _inner.ValidateTokenAsync(token, validationParameters);
        if (_validated is not null && result is { IsValid: true, SecurityToken: JsonWebToken validated } && validated.ValidTo != DateTime.MinValue)
        {
            _validated.Set(token, new Validated(validated, result.ClaimsIdentity.Clone(), validationParameters.IssuerSigningKey), new MemoryCacheEntryOptions
            {
                Size = 1,

                // Past this the lifetime check refuses the token anyway; the entry only has to leave the memory.
                AbsoluteExpiration = new DateTimeOffset(DateTime.SpecifyKind(validated.ValidTo, DateTimeKind.Utc)).Add(validationParameters.ClockSkew),
            });
        }

        return result;
    }

    public void Dispose() => _validated?.Dispose();

    /// <summary>The lifetime rule of a full validation (same validator, clock, skew and switches); false sends the token through it.</summary>
    private static bool IsCurrent(JsonWebToken token, TokenValidationParameters parameters)
    {
        try
        {
            if (parameters.LifetimeValidator is { } custom)
            {
                return custom(token.ValidFrom == DateTime.MinValue ? null : token.ValidFrom, token.ValidTo == DateTime.MinValue ? null : token.ValidTo, token, parameters);
            }

            Validators.ValidateLifetime(token.ValidFrom == DateTime.MinValue ? null : token.ValidFrom, token.ValidTo == DateTime.MinValue ? null : token.ValidTo, token, parameters);
            return true;
        }
        catch (SecurityTokenException)
        {
            return false;
        }
    }

    private sealed record Validated(JsonWebToken Token, System.Security.Claims.ClaimsIdentity Identity, SecurityKey? SigningKey);
}
