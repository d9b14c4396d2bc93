using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>
/// The bearer scheme's token handler: validates an access token fully (signature, algorithm, issuer, audience, lifetime)
/// the first time it is seen, and remembers the result for the exact same token string, so a client that sends its token
/// with every request (an SSE reconnect storm, a driver's writes) does not pay for parsing the JSON and the HMAC again.
/// The identity it gives a request holds only the claims the server reads (<see cref="Claims.Kept"/>).
/// </summary>
/// <remarks>
/// <para>The token's registered claims (exp, iat, nbf, iss, aud) are checked here and then dropped: a live stream keeps its
/// request's principal for hours, and every request would otherwise copy them with the rest (docs/benchmarks.md).</para>
/// <para>Only what the token itself proves is remembered. The lifetime is checked again on every use with the same
/// validator and parameters as a full validation, and the session check (revoked session, disabled user) still runs on
/// every request after this handler (<c>OnTokenValidated</c>), so revocation stays as immediate as before. The key is the
/// whole token including its signature: a token that differs in one character is a different key and is validated in
/// full.</para>
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
            return Accepted(known.Token, known.Identity);
        }

        var result = await _inner.ValidateTokenAsync(token, validationParameters);
        if (result is not { IsValid: true, SecurityToken: JsonWebToken validated })
        {
            return result;
        }

        var identity = KeptClaims(result.ClaimsIdentity);
        if (_validated is not null && validated.ValidTo != DateTime.MinValue)
        {
            _validated.Set(token, new Validated(validated, identity, validationParameters.IssuerSigningKey), new MemoryCacheEntryOptions
            {
                Size = 1,

                // Past this the lifetime check refuses the token anyway; the entry only has to leave the memory.
                AbsoluteExpiration = new DateTimeOffset(DateTime.SpecifyKind(validated.ValidTo, DateTimeKind.Utc)).Add(validationParameters.ClockSkew),
            });
        }

        return Accepted(validated, identity);
    }

    // Each request gets its own identity: a handler that adds a claim must not change what the next request sees.
    private static TokenValidationResult Accepted(JsonWebToken token, ClaimsIdentity identity) => new()
    {
        IsValid = true,
        SecurityToken = token,
        ClaimsIdentity = identity.Clone(),
        Issuer = token.Issuer,
        TokenType = token.Typ,
    };

    /// <summary>
    /// The claims the server reads, under their own names: the set's strings, not copies cut from each token's JSON. No
    /// claim keeps the JSON-type properties the token handler gives its claims.
    /// </summary>
    private static ClaimsIdentity KeptClaims(ClaimsIdentity validated) => new(
        validated.Claims.Where(c => Claims.Kept.Contains(c.Type)).Select(c => new Claim(Claims.Kept.TryGetValue(c.Type, out var type) ? type : c.Type, c.Value)),
        JwtBearerDefaults.AuthenticationScheme, Claims.Name, Claims.Role);

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

    private sealed record Validated(JsonWebToken Token, ClaimsIdentity Identity, SecurityKey? SigningKey);
}
