using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// A server that trusts one proxy (10.0.0.1) and allows two sign-in attempts per client address a minute. TestServer has
/// no peer address, so a startup filter (ahead of the app's pipeline) takes it from the test-only header <c>X-Test-Peer</c>.
/// </summary>
public sealed class TrustedProxyAppFactory : AppFactory
{
    public const string PeerHeader = "X-Test-Peer";
    public const string Proxy = "10.0.0.1";

    protected override Dictionary<string, string?> Settings => new()
    {
        ["Limits:LoginPerMinute"] = "2",
        ["Proxy:KnownProxies:0"] = Proxy,
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(s => s.AddSingleton<IStartupFilter, PeerFromHeader>());
    }

    private sealed class PeerFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.Headers.TryGetValue(PeerHeader, out var peer))
                {
                    context.Connection.RemoteIpAddress = IPAddress.Parse(peer.ToString());
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }
}

public sealed class ReverseProxyTests(TrustedProxyAppFactory app) : IClassFixture<TrustedProxyAppFactory>
{
    [Fact]
    public async Task LoginBudget_IsPerForwardedClient_WhenTheRequestComesFromATrustedProxy()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(TrustedProxyAppFactory.Proxy, "203.0.113.1")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(TrustedProxyAppFactory.Proxy, "203.0.113.1")).StatusCode);
        await ProblemAssert.IsProblemAsync(await LoginAsync(TrustedProxyAppFactory.Proxy, "203.0.113.1"), HttpStatusCode.TooManyRequests, ErrorCodes.RateLimited);

        // Another client behind the same proxy has its own budget; nginx appends the peer it saw to what the client sent.
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(TrustedProxyAppFactory.Proxy, "203.0.113.2")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(TrustedProxyAppFactory.Proxy, "192.0.2.99, 203.0.113.3")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(TrustedProxyAppFactory.Proxy, "192.0.2.99, 203.0.113.3")).StatusCode);
        await ProblemAssert.IsProblemAsync(
            await LoginAsync(TrustedProxyAppFactory.Proxy, "192.0.2.98, 203.0.113.3"), HttpStatusCode.TooManyRequests, ErrorCodes.RateLimited);
    }

    [Fact]
    public async Task ForwardedFor_FromAnUntrustedPeer_IsIgnored()
    {
        const string peer = "198.51.100.7";
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(peer, "203.0.113.50")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(peer, "203.0.113.51")).StatusCode);
        await ProblemAssert.IsProblemAsync(await LoginAsync(peer, "203.0.113.52"), HttpStatusCode.TooManyRequests, ErrorCodes.RateLimited);
    }

    [Fact]
    public void Start_IsRefused_WhenATrustedNetworkIsNotCidr()
    {
        using var broken = new BrokenProxySettingsAppFactory();
        var error = Assert.Throws<OptionsValidationException>(() => broken.CreateClient());
        Assert.Contains("Proxy:KnownNetworks", error.Message, StringComparison.Ordinal);
    }

    private async Task<HttpResponseMessage> LoginAsync(string peer, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/login")
        {
            Content = JsonContent.Create(new { email = "nobody@example.invalid", password = "Not-The-Password-1" }),
        };
        request.Headers.Add(TrustedProxyAppFactory.PeerHeader, peer);
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        return await app.CreateClient().SendAsync(request, TestContext.Current.CancellationToken);
    }
}

/// <summary>A server whose trusted-network setting is not a network.</summary>
public sealed class BrokenProxySettingsAppFactory : AppFactory
{
    protected override Dictionary<string, string?> Settings => new() { ["Proxy:KnownNetworks:0"] = "10.0.0.0/99" };
}
