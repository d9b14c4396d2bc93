using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;

namespace Fahrtenbuch.Server.Web;

/// <summary>The browser app (driver app and fleet board) served from wwwroot, with a fallback for its client-side routes.</summary>
public static class WebAppEndpoints
{
    public static IApplicationBuilder UseWebApp(this IApplicationBuilder app)
    {
        var types = new FileExtensionContentTypeProvider();
        types.Mappings[".webmanifest"] = "application/manifest+json";
        // Client-side routes (/drive, /board/review …) get the app shell. This is a rewrite for GET requests that no
        // endpoint matched rather than a fallback endpoint: a catch-all endpoint would turn the API's 405 answers into its own.
        app.Use((context, next) =>
        {
            var path = context.Request.Path;
            if (context.GetEndpoint() is null && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                && !path.StartsWithSegments("/api") && !path.StartsWithSegments("/hubs") && !Path.HasExtension(path.Value))
            {
                context.Request.Path = "/index.html";
            }

            return next(context);
        });
        app.UseDefaultFiles();
        return app.UseStaticFiles(new StaticFileOptions
        {
            ContentTypeProvider = types,
            OnPrepareResponse = context =>
            {
                // The service worker decides what is cached; the browser's HTTP cache must not pin an old app shell.
                context.Context.Response.Headers[HeaderNames.CacheControl] = "no-cache";
            },
        });
    }
}
