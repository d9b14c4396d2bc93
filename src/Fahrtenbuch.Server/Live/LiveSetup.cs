using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

public static class LiveSetup
{
    /// <summary>The live fan-out: the in-process transport, SSE and hub plumbing, limits and background jobs.</summary>
    public static IServiceCollection AddLive(this IServiceCollection services)
    {
        services.AddOptions<LiveOptions>().BindConfiguration(LiveOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ILiveTransport, InProcessLiveTransport>();
        services.AddSingleton<IEventSink, LiveEventSink>();
        services.AddSingleton<LiveEventStore>();
        services.AddSingleton<LiveFeed>();
        services.AddSingleton<LiveConnections>();
        services.AddSingleton<LiveCommandLimiter>();
        services.AddSingleton<HubShutdown>();
        services.AddHostedService<LiveSessionWatchdog>();
        services.AddSingleton<SseHeartbeats>();
        services.AddHostedService(sp => sp.GetRequiredService<SseHeartbeats>());
        services.AddHostedService<EventRetentionService>();
        services.AddSignalR().AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions));
        services.AddOptions<HubOptions>().Configure<IOptions<LiveOptions>>((o, live) => o.MaximumReceiveMessageSize = live.Value.HubMaxMessageBytes);
        return services;
    }
}
