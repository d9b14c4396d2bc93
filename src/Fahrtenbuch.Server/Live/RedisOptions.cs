using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Live;

/// <summary>Redis fan-out between instances (section <c>Redis</c>); an empty <see cref="Connection"/> keeps delivery in-process.</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>StackExchange.Redis configuration string (e.g. <c>redis.internal:6379,password=…</c>); empty = one instance, in-process fan-out.</summary>
    public string Connection { get; set; } = "";

    /// <summary>Pub/sub channel carrying committed events; instances sharing one Redis for different deployments need different names.</summary>
    [Required]
    [MinLength(1)]
    public string Channel { get; set; } = "fahrtenbuch:live";

    /// <summary>How often each instance compares the log head of companies it has subscribers for with what it delivered, to catch a lost last message.</summary>
    [Range(0.05, 600)]
    public double HeadCheckSeconds { get; set; } = 2;

    public bool Enabled => !string.IsNullOrWhiteSpace(Connection);

    public TimeSpan HeadCheck => TimeSpan.FromSeconds(HeadCheckSeconds);
}
