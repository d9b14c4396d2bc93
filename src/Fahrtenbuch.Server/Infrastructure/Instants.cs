namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// The one shape of an instant in this system: UTC, whole microseconds. PostgreSQL keeps microseconds, so an
/// instant with 100 ns ticks would come back different from what was answered when it was written.
/// </summary>
public static class Instants
{
    public static DateTimeOffset Normalize(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        return utc.AddTicks(-(utc.Ticks % TimeSpan.TicksPerMicrosecond));
    }

    public static DateTimeOffset? Normalize(DateTimeOffset? value) => value is { } v ? Normalize(v) : null;
}
