namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>
/// <see cref="LiveAppFactory"/> with the Redis transport on the redis-server in <c>FAHRTENBUCH_TEST_REDIS</c> (host:port),
/// on a channel of its own so test classes never hear each other. Without the variable it runs in-process.
/// </summary>
public sealed class RedisLiveAppFactory : LiveAppFactory
{
    public const string Variable = "FAHRTENBUCH_TEST_REDIS";

    public RedisLiveAppFactory()
        : this(NewDataDirectory(), keepData: false, NewChannel(), headCheckSeconds: 2)
    {
    }

    internal RedisLiveAppFactory(string dataDirectory, bool keepData, string channel, double headCheckSeconds, string? connection = null)
        : base(dataDirectory, keepData, new Dictionary<string, string?>
        {
            ["Redis:Connection"] = connection ?? RedisServer ?? "",
            ["Redis:Channel"] = channel,
            ["Redis:HeadCheckSeconds"] = headCheckSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        })
    {
    }

    /// <summary>The test redis-server as host:port, or null when the suite runs without one.</summary>
    public static string? RedisServer => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } server ? server : null;

    public static string NewChannel() => "fahrtenbuch-test:" + Guid.NewGuid().ToString("N");

    public static void SkipWithoutRedis()
    {
        if (RedisServer is null)
        {
            Assert.Skip($"needs a redis-server: set {Variable}=127.0.0.1:port (scripts/test.sh does)");
        }
    }
}

/// <summary>The ordinary stream tests with events travelling through Redis (echoes dropped, local delivery in-process).</summary>
public sealed class RedisLiveStreamTests(RedisLiveAppFactory app) : LiveStreamTests(app), IClassFixture<RedisLiveAppFactory>;
