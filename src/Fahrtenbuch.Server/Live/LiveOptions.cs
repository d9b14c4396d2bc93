using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Live;

/// <summary>Live delivery settings (section <c>Live</c>): timing, retention and the limits that keep memory bounded.</summary>
public sealed class LiveOptions
{
    public const string Section = "Live";

    /// <summary>Idle time after which an SSE stream gets a comment heartbeat, so proxies and mobile networks keep it open.</summary>
    [Range(1, 3600)]
    public double HeartbeatSeconds { get; set; } = 15;

    /// <summary>Reconnect delay suggested to SSE clients (<c>retry:</c>), in milliseconds.</summary>
    [Range(100, 600_000)]
    public int RetryMilliseconds { get; set; } = 3000;

    /// <summary>Reconnect delay suggested with the <c>shutdown</c> notice, in milliseconds (a restart usually takes a few seconds).</summary>
    [Range(100, 600_000)]
    public int ShutdownRetryMilliseconds { get; set; } = 5000;

    /// <summary>
    /// How long a stopping server lets hub streams send what was committed and their <c>shutdown</c> notice before SignalR
    /// closes the connections, in milliseconds (SSE streams end by themselves within the host's shutdown timeout).
    /// </summary>
    [Range(0, 60_000)]
    public int HubShutdownGraceMilliseconds { get; set; } = 2000;

    /// <summary>How often live connections re-check that their session is still valid (logout, disabled user).</summary>
    [Range(0.05, 3600)]
    public double SessionCheckSeconds { get; set; } = 15;

    /// <summary>How long events stay in the log for resuming clients; older ones are pruned and their ids get a <c>reset</c>.</summary>
    [Range(1, 36_500)]
    public int RetentionDays { get; set; } = 30;

    /// <summary>How often the retention job prunes the log.</summary>
    [Range(1, 10_080)]
    public int PruneIntervalMinutes { get; set; } = 60;

    /// <summary>Events buffered per subscriber; a subscriber whose queue is full is disconnected and resumes from the log.</summary>
    [Range(1, 1_000_000)]
    public int SubscriberQueueLength { get; set; } = 1000;

    /// <summary>Events read from the log per database round trip while replaying.</summary>
    [Range(1, 100_000)]
    public int ReplayBatchSize { get; set; } = 500;

    /// <summary>Recent events per company kept in memory, so a reconnect storm replays from memory instead of the database (0 = off).</summary>
    [Range(0, 1_000_000)]
    public int ReplayCacheEvents { get; set; } = 4096;

    /// <summary>Open live connections (SSE streams and hub connections together) per user.</summary>
    [Range(1, 10_000)]
    public int MaxConnectionsPerUser { get; set; } = 10;

    /// <summary>Open live connections on this instance in total.</summary>
    [Range(1, 1_000_000)]
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Largest message a hub client may send, in bytes.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public long HubMaxMessageBytes { get; set; } = 32 * 1024;

    /// <summary>Hub commands per user per second (token bucket refill).</summary>
    [Range(1, 100_000)]
    public int HubCommandsPerSecond { get; set; } = 10;

    /// <summary>Hub commands a user may send at once.</summary>
    [Range(1, 100_000)]
    public int HubCommandBurst { get; set; } = 30;

    public TimeSpan Heartbeat => TimeSpan.FromSeconds(HeartbeatSeconds);

    public TimeSpan SessionCheck => TimeSpan.FromSeconds(SessionCheckSeconds);
}
