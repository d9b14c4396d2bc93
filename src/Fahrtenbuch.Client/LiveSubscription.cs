using System.Net.ServerSentEvents;
using System.Text.Json;

namespace Fahrtenbuch.Client;

/// <summary>
/// Follows <c>GET /api/events</c> for as long as asked: reconnects after any drop (and after the server's
/// <c>shutdown</c> event), resuming with <c>Last-Event-ID</c> so nothing is missed or repeated. A
/// <c>reset</c> (the server can no longer serve the id) reloads <c>GET /api/live/snapshot</c>, hands it
/// on as an event of type <c>snapshot</c> and streams on from the snapshot's position.
/// </summary>
public sealed class LiveSubscription(FahrtenbuchClient client)
{
    /// <summary>The id of the last event handled; set it to resume a subscription from an earlier run.</summary>
    public string? LastEventId { get; set; }

    /// <summary>Wait before the first reconnect; doubles per failure up to <see cref="MaxReconnectDelay"/>, or follows the server's <c>retry:</c> hint.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Called when a connection fails (for logging); the subscription goes on.</summary>
    public Action<Exception>? OnError { get; set; }

    public async Task RunAsync(Func<LiveEvent, ValueTask> handle, CancellationToken cancellationToken)
    {
        var delay = ReconnectDelay;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var response = await client.OpenStreamAsync(LastEventId, cancellationToken);
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                var parser = SseParser.Create(stream);
                await foreach (var item in parser.EnumerateAsync(cancellationToken))
                {
                    delay = ReconnectDelay;
                    if (item.EventType == "reset")
                    {
                        var snapshot = await client.SnapshotAsync(cancellationToken);
                        LastEventId = snapshot.TryGetProperty("position", out var position) ? position.ToString() : null;
                        await handle(new LiveEvent(LastEventId, "snapshot", snapshot));
                        break;
                    }

                    var data = Parse(item.Data);
                    if (item.EventType == "shutdown")
                    {
                        await handle(new LiveEvent(item.EventId, item.EventType, data));
                        break;
                    }

                    await handle(new LiveEvent(item.EventId, item.EventType, data));
                    if (!string.IsNullOrEmpty(item.EventId))
                    {
                        LastEventId = item.EventId;
                    }
                }

                if (parser.ReconnectionInterval > TimeSpan.Zero)
                {
                    delay = parser.ReconnectionInterval;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or FahrtenbuchApiException or JsonException)
            {
                OnError?.Invoke(e);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxReconnectDelay.Ticks));
            }

            try
            {
                await Task.Delay(delay + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 250)), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static JsonElement Parse(string data)
    {
        try
        {
            using var document = JsonDocument.Parse(data);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(data);
        }
    }
}
