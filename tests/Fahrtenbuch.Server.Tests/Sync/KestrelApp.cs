using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>The real server on Kestrel at 127.0.0.1 and a free port, for real clients over TCP.</summary>
public sealed class KestrelApp : AppFactory
{
    public KestrelApp() => UseKestrel(o => o.Listen(IPAddress.Loopback, 0));

    public Uri Address
    {
        get
        {
            StartServer();
            var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return new Uri(addresses.First(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        }
    }
}
