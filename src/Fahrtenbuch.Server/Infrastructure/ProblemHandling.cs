using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>Turns every exception that reaches the pipeline into problem details with a stable code.</summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, code, detail) = exception switch
        {
            DomainException d => (d.Status, d.Code, d.Message),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                (StatusCodes.Status413PayloadTooLarge, ErrorCodes.TooLarge, "The request body is larger than this endpoint accepts."),
            BadHttpRequestException { InnerException: JsonException } b =>
                (StatusCodes.Status400BadRequest, ErrorCodes.Malformed, MalformedMessage(b.InnerException)),
            BadHttpRequestException b => (b.StatusCode, ErrorCodes.Malformed, b.Message),
            JsonException j => (StatusCodes.Status400BadRequest, ErrorCodes.Malformed, MalformedMessage(j)),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested =>
                (499, "request.aborted", "The client closed the request."),
            _ => (StatusCodes.Status500InternalServerError, "server.error", "An unexpected error occurred. It has been logged."),
        };

        if (status >= 500)
        {
            logger.LogError(exception, "Unhandled exception for {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
        }

        if (httpContext.Response.HasStarted)
        {
            return true;
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = status,
                Title = ErrorCodes.Title(status),
                Detail = detail,
                Extensions = { ["code"] = code },
            },
        });
    }

    private static string MalformedMessage(Exception? json) =>
        json is JsonException { Path: { Length: > 0 } path }
            ? $"The request body is not valid JSON for this endpoint (at '{path}')."
            : "The request body is not valid JSON for this endpoint.";
}

/// <summary>The stable codes shared by several features; feature-specific ones live next to their rules.</summary>
public static class ErrorCodes
{
    public const string Malformed = "request.malformed";
    public const string TooLarge = "request.too-large";
    public const string Validation = "request.invalid";
    public const string Unauthenticated = "auth.unauthenticated";
    public const string Forbidden = "auth.forbidden";
    public const string RateLimited = "request.rate-limited";
    public const string CsrfHeaderMissing = "auth.csrf-header-missing";

    public static string Title(int status) => status switch
    {
        400 => "Bad request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Request too large",
        422 => "Request refused",
        429 => "Too many requests",
        _ when status >= 500 => "Server error",
        _ => "Request failed",
    };

    /// <summary>The code a framework-produced problem gets when nothing more specific set one.</summary>
    public static string ForStatus(int status) => status switch
    {
        400 => Validation,
        401 => Unauthenticated,
        403 => Forbidden,
        404 => "route.not-found",
        405 => "route.method-not-allowed",
        413 => TooLarge,
        415 => "request.unsupported-media-type",
        429 => RateLimited,
        _ when status >= 500 => "server.error",
        _ => "request.failed",
    };

    public static void AddDefaults(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        problem.Extensions.TryAdd("code", ForStatus(status));
        problem.Title ??= Title(status);
        problem.Extensions.Remove("traceId");
        problem.Extensions["traceId"] = context.HttpContext.TraceIdentifier;
    }
}
