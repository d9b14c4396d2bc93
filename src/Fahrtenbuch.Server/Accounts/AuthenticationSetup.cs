using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>
/// Bearer JWTs for API clients and an HttpOnly cookie for browsers, behind one policy scheme so every
/// endpoint accepts either. Both are re-checked against the session store on each request.
/// </summary>
public static class AuthenticationSetup
{
    public const string Scheme = "BearerOrCookie";
    public const string CookieName = "fahrtenbuch.session";

    /// <summary>The header a cookie-authenticated write must carry; a cross-site form cannot set it.</summary>
    public const string CsrfHeader = "X-CSRF";

    public const string ManagerPolicy = "FleetManager";
    public const string WriterPolicy = "Writer";

    public static IServiceCollection AddAccounts(this IServiceCollection services)
    {
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddMemoryCache();
        services.AddSingleton<SigningKey>();
        services.AddSingleton<SessionValidator>();
        services.AddSingleton<ValidatedTokens>();
        services.AddScoped<TokenService>();

        services.AddIdentityCore<User>(o =>
            {
                o.User.RequireUniqueEmail = true;
                o.Password.RequiredLength = 12;
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                o.Lockout.AllowedForNewUsers = true;
            })
            .AddEntityFrameworkStores<AppDbContext>();
        services.AddOptions<IdentityOptions>().Configure<IOptions<AuthOptions>>((o, auth) =>
        {
            o.Lockout.MaxFailedAccessAttempts = auth.Value.MaxFailedAttempts;
            o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(auth.Value.LockoutMinutes);
        });

        services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "Bearer token or session cookie", o => o.ForwardDefaultSelector = context =>
                context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                    ? JwtBearerDefaults.AuthenticationScheme
                    : CookieAuthenticationDefaults.AuthenticationScheme)
            .AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;

                // Nothing reads the token back from the authentication properties; a live stream would keep a copy for hours.
                o.SaveToken = false;
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = ValidateSessionAsync,
                    OnChallenge = context =>
                    {
                        context.HandleResponse();
                        var expired = context.AuthenticateFailure is SecurityTokenExpiredException;
                        return WriteProblemAsync(context.HttpContext, 401, expired ? "auth.token-expired" : ErrorCodes.Unauthenticated,
                            expired ? "The access token has expired; refresh it." : "Sign in to use this endpoint.");
                    },
                    OnForbidden = context => WriteProblemAsync(context.HttpContext, 403, ErrorCodes.Forbidden, "Your role does not allow this."),
                };
            })
            .AddCookie(o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.SlidingExpiration = true;
                o.Events = new CookieAuthenticationEvents
                {
                    OnValidatePrincipal = async context =>
                    {
                        var user = CurrentUser.From(context.Principal!);
                        var sessions = context.HttpContext.RequestServices.GetRequiredService<SessionValidator>();
                        if (user is null || !await sessions.IsActiveAsync(user.Id, user.SessionId, context.HttpContext.RequestAborted))
                        {
                            context.RejectPrincipal();
                            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                        }
                    },
                    OnRedirectToLogin = context => WriteProblemAsync(context.HttpContext, 401, ErrorCodes.Unauthenticated, "Sign in to use this endpoint."),
                    OnRedirectToAccessDenied = context => WriteProblemAsync(context.HttpContext, 403, ErrorCodes.Forbidden, "Your role does not allow this."),
                };
            });
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<ValidatedTokens>((o, tokens) =>
            {
                o.TokenHandlers.Clear();
                o.TokenHandlers.Add(tokens);
            })
            .Configure<SigningKey, IOptions<AuthOptions>>((o, key, auth) => o.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = auth.Value.Issuer,
                ValidAudience = auth.Value.Issuer,
                IssuerSigningKey = key.Key,
                ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                RequireSignedTokens = true,
                RequireExpirationTime = true,
                ClockSkew = TimeSpan.FromSeconds(30),
                NameClaimType = Claims.Name,
                RoleClaimType = Claims.Role,
            });
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<IOptions<AuthOptions>>((o, auth) => o.ExpireTimeSpan = TimeSpan.FromDays(auth.Value.RefreshTokenDays));

        // The policies name no scheme: the authentication middleware has already run the default one (bearer token or cookie)
        // for the request. A policy naming it would authenticate the request a second time and merge the principal into a copy.
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(ManagerPolicy, p => p.RequireClaim(Claims.Role, nameof(UserRole.FleetManager)))
            .AddPolicy(WriterPolicy, p => p.RequireClaim(Claims.Role, nameof(UserRole.FleetManager), nameof(UserRole.Driver)));
        return services;
    }

    /// <summary>
    /// Puts the caller's company into the database scope and refuses cookie writes without the CSRF header. Not async
    /// itself, so a live stream does not keep this step's state machine for its whole life.
    /// </summary>
    public static IApplicationBuilder UseCompanyScope(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (CurrentUser.From(context.User) is { } user)
        {
            var scope = context.RequestServices.GetRequiredService<CompanyScope>();
            scope.CompanyId = user.CompanyId;
            scope.Caller = user;
            var viaCookie = !context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);
            if (viaCookie && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                && !HttpMethods.IsOptions(context.Request.Method) && string.IsNullOrEmpty(context.Request.Headers[CsrfHeader]))
            {
                return WriteProblemAsync(context, 403, ErrorCodes.CsrfHeaderMissing,
                    $"Requests authenticated by the session cookie must send the '{CsrfHeader}' header on writes.");
            }
        }

        return next(context);
    });

    private static async Task ValidateSessionAsync(TokenValidatedContext context)
    {
        var user = CurrentUser.From(context.Principal!);
        var sessions = context.HttpContext.RequestServices.GetRequiredService<SessionValidator>();
        if (user is null || !await sessions.IsActiveAsync(user.Id, user.SessionId, context.HttpContext.RequestAborted))
        {
            context.Fail("The session has ended.");
            return;
        }

        // The principal holds only the claims the server reads (ValidatedTokens drops the token's registered ones). Nor do the
        // authentication properties keep the token's issue and expiry times as text: nothing reads them (the lifetime was just
        // checked, and a stream ends with its session, not its token).
        context.Properties = new AuthenticationProperties();
    }

    internal static Task WriteProblemAsync(HttpContext context, int status, string code, string detail)
    {
        context.Response.StatusCode = status;
        return context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = ErrorCodes.Title(status), Detail = detail, Extensions = { ["code"] = code } },
        }).AsTask();
    }
}
