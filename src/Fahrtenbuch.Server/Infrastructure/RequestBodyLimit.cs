using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// Applies the body size limit before any handler reads: a declared length over the limit is
/// refused at once; a chunked body is cut off by the server's own limit feature while reading.
/// Endpoints may raise or lower the limit with <c>[RequestSizeLimit]</c> metadata.
/// </summary>
public sealed class RequestBodyLimitMiddleware(RequestDelegate next, Microsoft.Extensions.Options.IOptions<ApiLimitsOptions> options)
{
    // Not async itself: a request that passes returns the next delegate's task, so a live stream does not keep this
    // method's state machine for its whole life.
    public Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var limit = context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IRequestSizeLimitMetadata>()?.MaxRequestBodySize
            ?? options.Value.MaxRequestBodyBytes;

        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            feature.MaxRequestBodySize = limit;
        }

        if (limit is { } max && context.Request.ContentLength > max)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = new ProblemDetails
                {
                    Status = StatusCodes.Status413PayloadTooLarge,
                    Title = ErrorCodes.Title(413),
                    Detail = $"The request body is {context.Request.ContentLength} bytes; this endpoint accepts at most {max}.",
                    Extensions = { ["code"] = ErrorCodes.TooLarge, ["limit"] = max },
                },
            }).AsTask();
        }

        return next(context);
    }
}
