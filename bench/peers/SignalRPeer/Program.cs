// ASP.NET Core SignalR broadcast peer: a hub, and POST /publish sends the body to all clients.
// Also serves a bare SSE broadcaster at /sse for the "plain ASP.NET Core" reference point.
using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.SignalR;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddSignalR();
var app = builder.Build();
var sseClients = new ConcurrentDictionary<HttpResponse, byte>();
var sseId = 0L;

app.MapHub<BroadcastHub>("/hub");
app.MapPost("/publish", async (HttpRequest request, IHubContext<BroadcastHub> hub) =>
{
    using var reader = new StreamReader(request.Body, Encoding.UTF8);
    var body = await reader.ReadToEndAsync();
    await hub.Clients.All.SendAsync("event", body);
    var frame = Encoding.UTF8.GetBytes($"id: {Interlocked.Increment(ref sseId)}\nevent: message\ndata: {body}\n\n");
    foreach (var client in sseClients.Keys)
    {
        _ = WriteAsync(client, frame);
    }

    return Results.NoContent();
});
app.MapGet("/sse", async (HttpContext context) =>
{
    context.Response.ContentType = "text/event-stream";
    await context.Response.WriteAsync("retry: 2000\n\n");
    await context.Response.Body.FlushAsync();
    sseClients[context.Response] = 0;
    try
    {
        await Task.Delay(Timeout.Infinite, context.RequestAborted);
    }
    catch (OperationCanceledException)
    {
    }
    finally
    {
        sseClients.TryRemove(context.Response, out _);
    }
});
app.MapGet("/clients", () => sseClients.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
app.Run();

static async Task WriteAsync(HttpResponse response, byte[] frame)
{
    try
    {
        await response.Body.WriteAsync(frame);
        await response.Body.FlushAsync();
    }
    catch (Exception)
    {
        // The client went away; its request ends and removes it.
    }
}

internal sealed class BroadcastHub : Hub;
