using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>Explicit limits on what one client may send (section <c>Limits</c>).</summary>
public sealed class ApiLimitsOptions
{
    public const string Section = "Limits";

    /// <summary>Largest accepted request body for ordinary endpoints, in bytes (64 KiB).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Login attempts per client address per minute before 429.</summary>
    [Range(1, 10_000)]
    public int LoginPerMinute { get; set; } = 10;

    /// <summary>Write requests per user per second (token bucket refill) before 429.</summary>
    [Range(1, 100_000)]
    public int WritesPerSecond { get; set; } = 20;

    /// <summary>Burst of write requests a user may send at once.</summary>
    [Range(1, 100_000)]
    public int WriteBurst { get; set; } = 100;

    /// <summary>Largest page size a list endpoint returns.</summary>
    [Range(1, 10_000)]
    public int MaxPageSize { get; set; } = 500;
}
