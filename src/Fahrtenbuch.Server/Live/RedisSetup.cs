using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Fahrtenbuch.Server.Live;

public static class RedisSetup
{
    /// <summary>
    /// With <c>Redis:Connection</c> set: live events travel between instances over Redis, the SignalR backplane runs over
    /// the same server, and readiness includes Redis. Without it nothing changes (one instance, in-process fan-out).
    /// </summary>
    public static IServiceCollection AddRedisFanOut(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        if (!options.Enabled)
        {
            return services;
        }

        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(Configure(options.Connection, "fahrtenbuch-live")));
        services.AddSingleton<RedisLiveTransport>();
        services.RemoveAll<ILiveTransport>();
        services.AddSingleton<ILiveTransport>(sp => sp.GetRequiredService<RedisLiveTransport>());
        services.AddHostedService(sp => sp.GetRequiredService<RedisLiveTransport>());

        // Events reach hub clients through LiveFeed per connection, not through group sends, so the backplane carries
        // no events; it keeps Clients.All/Group/User and connection aborts correct across instances should they be used.
        services.AddSignalR().AddStackExchangeRedis(o =>
        {
            o.Configuration = Configure(options.Connection, "fahrtenbuch-signalr");
            o.Configuration.ChannelPrefix = RedisChannel.Literal(options.Channel + ":signalr");
        });
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return services;
    }

    // Start even when Redis is down: readiness reports it, and the multiplexer keeps reconnecting.
    private static ConfigurationOptions Configure(string connection, string clientName)
    {
        var configuration = ConfigurationOptions.Parse(connection);
        configuration.AbortOnConnectFail = false;
        configuration.ClientName ??= clientName;
        return configuration;
    }
}

internal sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis cannot be reached.");
        }
    }
}
