using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Live;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>The real server on Kestrel at 127.0.0.1 with an OS-assigned port, with short live timings.</summary>
public class LiveAppFactory : AppFactory
{
    private readonly Dictionary<string, string?> _settings;
    private readonly bool _keepData;
    private readonly int? _socketBufferBytes;

    public LiveAppFactory()
        : this(NewDataDirectory(), keepData: false, settings: [])
    {
    }

    internal LiveAppFactory(string dataDirectory, bool keepData, Dictionary<string, string?> settings, int? socketBufferBytes = null)
        : base(dataDirectory)
    {
        _keepData = keepData;
        _socketBufferBytes = socketBufferBytes;
        _settings = new Dictionary<string, string?>
        {
            ["Live:HeartbeatSeconds"] = "1",
            ["Live:SessionCheckSeconds"] = "0.2",
            ["Live:ShutdownRetryMilliseconds"] = "1500",
        };
        foreach (var (key, value) in settings)
        {
            _settings[key] = value;
        }

        UseKestrel(o =>
        {
            o.Listen(IPAddress.Loopback, 0);
            if (socketBufferBytes is not null)
            {
                o.Limits.MaxResponseBufferSize = socketBufferBytes;
            }
        });
    }

    protected override Dictionary<string, string?> Settings => _settings;

    protected override bool DeleteDataOnDispose => !_keepData;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (_socketBufferBytes is { } bytes)
        {
            // Accepted sockets inherit the listener's buffer sizes on Linux: a small send buffer makes a stalled client visible fast.
            builder.ConfigureServices(s => s.Configure<SocketTransportOptions>(o => o.CreateBoundListenSocket = endpoint =>
            {
                var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                socket.SendBufferSize = bytes;
                return socket;
            }));
        }
    }

    public Uri BaseAddress
    {
        get
        {
            StartServer();
            return new Uri(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        }
    }

    public HttpClient RealClient(string? token = null, int? receiveBufferBytes = null)
    {
        // No drain on dispose: HttpClient reads up to 2 s of an unfinished response to reuse its connection, and a live stream
        // never finishes, so every stream a test disposed cost it 2 s. The connection is closed at once instead.
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1), ResponseDrainTimeout = TimeSpan.Zero };
        if (receiveBufferBytes is { } bytes)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = bytes, NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            };
        }

        var client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task<string> TokenAsync(string email)
    {
        using var client = RealClient();
        var response = await client.PostAsJsonAsync("/api/auth/login", new { email, password = DemoData.Password });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options))!.AccessToken;
    }

    public async Task<HttpClient> ApiAsync(string email) => RealClient(await TokenAsync(email));

    public async Task<SseClient> OpenStreamAsync(string token, string? lastEventId = null, string query = "", int? receiveBufferBytes = null)
    {
        var client = RealClient(token, receiveBufferBytes);
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events" + query);
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation(LiveEndpoints.LastEventIdHeader, lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        return new SseClient(client, response, await response.Content.ReadAsStreamAsync(), startReading: receiveBufferBytes is null);
    }

    public HubConnection Hub(string token) => new HubConnectionBuilder()
        .WithUrl(new Uri(BaseAddress, LiveHub.Path), o =>
        {
            o.AccessTokenProvider = () => Task.FromResult<string?>(token);
            o.Transports = HttpTransportType.WebSockets;
            o.SkipNegotiation = true;
        })
        .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
        .Build();

    public static async Task<List<VehicleResponse>> VehiclesAsync(HttpClient api) =>
        (await api.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options))!;

    public static async Task<long> HeadAsync(HttpClient api) =>
        (await api.GetFromJsonAsync<LiveSnapshot>("/api/live/snapshot", TestJson.Options))!.Position;

    public static async Task RecordOdometerAsync(HttpClient api, Guid vehicleId, int value)
    {
        var response = await api.PostAsJsonAsync($"/api/vehicles/{vehicleId}/odometer", new { value });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}

/// <summary>A .NET SSE client: the raw response read by <see cref="SseParser"/> into a queue.</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly HttpResponseMessage _response;
    private readonly Stream _body;
    private readonly Channel<SseItem<string>> _items = Channel.CreateUnbounded<SseItem<string>>();
    private Task? _reader;

    // Set before this client disposes the stream under a read of the reader's: HttpClient's response stream does not allow a
    // dispose during a read on another thread, and the read then fails with whatever its state gave (its chunked decoder
    // once with ArgumentOutOfRangeException). A stream closed that way has ended, whatever the exception says.
    private volatile bool _disposing;

    public SseClient(HttpClient client, HttpResponseMessage response, Stream body, bool startReading)
    {
        _client = client;
        _response = response;
        _body = body;
        if (startReading)
        {
            StartReading();
        }
    }

    public HttpResponseMessage Response => _response;

    /// <summary>Completes when the server ended the stream (or the connection broke).</summary>
    public Task Ended => _reader ?? Task.CompletedTask;

    public string? LastEventId { get; private set; }

    public void StartReading() => _reader ??= Task.Run(async () =>
    {
        try
        {
            await foreach (var item in SseParser.Create(_body).EnumerateAsync())
            {
                if (item.EventId is { } id)
                {
                    LastEventId = id;
                }

                _items.Writer.TryWrite(item);
            }
        }
        catch (Exception e) when (_disposing || e is IOException or HttpRequestException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            _items.Writer.TryComplete();
        }
    });

    public async Task<SseItem<string>> NextAsync(double seconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        return await _items.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>Every event until one with position <paramref name="head"/> arrived (positions of the log only).</summary>
    public Task<List<SseItem<string>>> UntilAsync(long head, double seconds = 20) =>
        UntilAsync(i => i.EventId == head.ToString(), seconds);

    /// <summary>Every event until one matching <paramref name="last"/> arrived.</summary>
    public async Task<List<SseItem<string>>> UntilAsync(Func<SseItem<string>, bool> last, double seconds = 20)
    {
        var items = new List<SseItem<string>>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (!items.Exists(i => last(i)))
        {
            items.Add(await _items.Reader.ReadAsync(timeout.Token));
        }

        return items;
    }

    /// <summary>Everything until the server ends the stream.</summary>
    public async Task<List<SseItem<string>>> ToEndAsync(double seconds = 10)
    {
        var items = new List<SseItem<string>>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await foreach (var item in _items.Reader.ReadAllAsync(timeout.Token))
        {
            items.Add(item);
        }

        return items;
    }

    public static long Position(SseItem<string> item) => long.Parse(item.EventId!);

    public static JsonElement Json(SseItem<string> item) => JsonDocument.Parse(item.Data).RootElement;

    public async ValueTask DisposeAsync()
    {
        _disposing = true;
        _response.Dispose();
        await _body.DisposeAsync();
        _client.Dispose();
        if (_reader is not null)
        {
            await _reader;
        }
    }
}
