using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using IPNetwork = System.Net.IPNetwork;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// Which reverse proxies may tell the client's address and scheme (section <c>Proxy</c>). Only a request whose
/// direct peer is listed has its <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> applied; anyone else's are ignored.
/// Entries may also be comma-separated (<c>Proxy__KnownProxies__0=10.0.0.5,10.0.0.6</c>).
/// </summary>
public sealed class ProxyOptions : IValidatableObject
{
    public const string Section = "Proxy";

    /// <summary>Addresses of trusted proxies. With <see cref="KnownNetworks"/> both empty: loopback only (nginx on the same host).</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Trusted proxy networks in CIDR notation (<c>10.0.0.0/24</c>); listing any entry replaces the loopback default.</summary>
    public List<string> KnownNetworks { get; set; } = [];

    public IEnumerable<IPAddress> Proxies() => Entries(KnownProxies).Select(IPAddress.Parse);

    public IEnumerable<IPNetwork> Networks() => Entries(KnownNetworks).Select(n => IPNetwork.Parse(n));

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var proxy in Entries(KnownProxies).Where(p => !IPAddress.TryParse(p, out _)))
        {
            yield return new ValidationResult($"Proxy:KnownProxies: '{proxy}' is not an IP address.", [nameof(KnownProxies)]);
        }

        foreach (var network in Entries(KnownNetworks).Where(n => !IPNetwork.TryParse(n, out _)))
        {
            yield return new ValidationResult($"Proxy:KnownNetworks: '{network}' is not a network in CIDR notation (e.g. 10.0.0.0/24).", [nameof(KnownNetworks)]);
        }
    }

    private static IEnumerable<string> Entries(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

public static class ReverseProxy
{
    /// <summary>
    /// Configures <see cref="ForwardedHeadersOptions"/> from <see cref="ProxyOptions"/>, so the client address (login rate limit,
    /// logs) and scheme are the real client's behind nginx, and nobody else can claim an address with a header.
    /// </summary>
    public static IServiceCollection AddReverseProxy(this IServiceCollection services)
    {
        services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ProxyOptions>>((o, proxy) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;

            // Every hop that is itself a trusted proxy is unwrapped (a load balancer in front of nginx); the walk stops at the
            // first address that is not trusted, so a client-supplied X-Forwarded-For entry is never taken.
            o.ForwardLimit = null;
            var proxies = proxy.Value.Proxies().ToList();
            var networks = proxy.Value.Networks().ToList();
            if (proxies.Count == 0 && networks.Count == 0)
            {
                return;
            }

            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            proxies.ForEach(o.KnownProxies.Add);
            networks.ForEach(o.KnownIPNetworks.Add);
        });
        return services;
    }
}
