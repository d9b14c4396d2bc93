using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Fahrtenbuch.Server.Events;

namespace Fahrtenbuch.Server.Live;

/// <summary>
/// One committed event, encoded once for every subscriber on this instance: the SSE frame bytes of the
/// full and of the restricted form, and the parsed JSON for the hub.
/// </summary>
/// <remarks>
/// Each form is encoded when a subscriber first needs it, not when the event is published: publishing runs under the
/// SQLite write lock (SqliteWriteGate), and a company nobody watches on this instance never needs a frame. Two threads
/// that ask at once may both encode; they get the same bytes, and either array is kept.
/// </remarks>
public sealed class LiveEvent
{
    private readonly bool _restricted;
    private byte[]? _fullFrame;
    private byte[]? _restrictedFrame;

    // Boxed, so a hub stream reading one while another sets it sees a whole value (a JsonElement is several words).
    private object? _fullJson;
    private object? _restrictedJson;

    public LiveEvent(EventRecord record)
    {
        CompanyId = record.CompanyId;
        Position = record.Position;
        Type = record.Type;
        OccurredAt = record.OccurredAt;
        Audience = record.Audience;
        VehicleId = record.VehicleId;
        TripId = record.TripId;
        OwnerId = record.OwnerId;
        Data = record.Data;
        RestrictedData = record.RestrictedData ?? record.Data;
        _restricted = record.RestrictedData is not null;
    }

    public Guid CompanyId { get; }

    public long Position { get; }

    public string Type { get; }

    public DateTimeOffset OccurredAt { get; }

    public EventAudience Audience { get; }

    public Guid? VehicleId { get; }

    public Guid? TripId { get; }

    public Guid? OwnerId { get; }

    public string Data { get; }

    public string RestrictedData { get; }

    public ReadOnlyMemory<byte> FullFrame => _fullFrame ??= SseFrames.Event(Position, Type, Data);

    public ReadOnlyMemory<byte> RestrictedFrame => _restricted ? _restrictedFrame ??= SseFrames.Event(Position, Type, RestrictedData) : FullFrame;

    public bool SeesFull(LiveViewer viewer) => EventVisibility.SeesFull(Audience, OwnerId, viewer.UserId, viewer.SeesWholeCompany);

    public JsonElement JsonFor(bool full) => (JsonElement)(full
        ? _fullJson ??= JsonDocument.Parse(Data).RootElement.Clone()
        : _restrictedJson ??= JsonDocument.Parse(RestrictedData).RootElement.Clone());
}

/// <summary>SSE frames built with <see cref="SseFormatter"/>, once, so each subscriber only copies bytes.</summary>
public static class SseFrames
{
    /// <summary>Written first on every stream: the reconnect hint without data, which clients apply but never dispatch.</summary>
    public static byte[] Prelude(int retryMilliseconds) =>
        System.Text.Encoding.UTF8.GetBytes($"retry: {retryMilliseconds.ToString(CultureInfo.InvariantCulture)}\n: connected\n\n");

    public static readonly byte[] Heartbeat = ": heartbeat\n\n"u8.ToArray();

    public static byte[] Event(long position, string type, string data) =>
        Encode(new SseItem<string>(data, type) { EventId = position.ToString(CultureInfo.InvariantCulture) });

    public static byte[] Encode(SseItem<string> item)
    {
        using var buffer = new MemoryStream();

        // A MemoryStream completes every write synchronously, so this never blocks a thread.
        SseFormatter.WriteAsync(new[] { item }.ToAsyncEnumerable(), buffer).GetAwaiter().GetResult();
        return buffer.ToArray();
    }
}
