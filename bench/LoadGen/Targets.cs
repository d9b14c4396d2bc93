using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;

namespace LoadGen;

/// <summary>A server under test: how to start it, subscribe to it and make it publish one event.</summary>
public abstract class Target : IAsyncDisposable
{
    private Process? _process;

    protected static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    public abstract string Name { get; }

    /// <summary>How many log events one publish produces (our REST write produces a trip event and a vehicle status).</summary>
    public virtual int EventsPerPublish => 1;

    public virtual bool Resumes => false;

    /// <summary>Peers have no ordering of their own across concurrent publishes, so the generator publishes one at a time.</summary>
    public virtual bool SequentialPublish => true;

    /// <summary>How many publishers write at once when the generator publishes as fast as it can (the warm-up, <c>write</c>).</summary>
    public virtual int ConcurrentPublishers => 16;

    public int Pid => _process?.Id ?? 0;

    public string BaseUrl { get; protected set; } = "";

    public abstract Task StartAsync(int port);

    public abstract Task<Subscriber> SubscribeAsync(int index, Metrics metrics, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes one event. <paramref name="due"/> is the <see cref="Stopwatch"/> timestamp at which the schedule wanted it
    /// published: latency is measured from then, so a publish the server held back (a peer answers only after its
    /// broadcast, and the next publish waits for that answer) counts its wait too, instead of being left out.
    /// </summary>
    public abstract Task PublishAsync(long sequence, long due, CancellationToken cancellationToken);

    private long _lastSent;

    /// <summary>When the latest publish really went out (a <see cref="Stopwatch"/> timestamp): later than due when it had to wait.</summary>
    public long LastSent => Interlocked.Read(ref _lastSent);

    /// <summary>Notes that a publish goes out now (a target calls it right before it sends).</summary>
    protected void MarkSent() => Metrics.RaiseTo(ref _lastSent, Stopwatch.GetTimestamp());

    public virtual ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process?.Dispose();
        return ValueTask.CompletedTask;
    }

    protected async Task LaunchAsync(string fileName, string arguments, int port, string readyPath, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1") Console.Error.WriteLine($"[{Name}] {line}"); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        BaseUrl = $"http://127.0.0.1:{port}";
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var response = await Http.GetAsync(BaseUrl + readyPath);
                if ((int)response.StatusCode < 500)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} during start");
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} did not start");
    }

    /// <summary>
    /// How many bytes a peer's event should have (<c>--peer-bytes</c>); 0 publishes the bare sequence number and timestamp.
    /// A trip start of ours sends about 940 bytes of events per subscriber (the trip and the vehicle status as the API shows
    /// them, nulls left out: ADR 0011), so the same figure gives the peers the same bytes to move.
    /// </summary>
    public static int PeerPayloadBytes { get; set; }

    protected static string PeerPayload(long sequence, long due)
    {
        var bare = $"{{\"seq\":{sequence},\"ts\":{due}";
        var pad = PeerPayloadBytes - bare.Length - ",\"pad\":\"\"}".Length;
        return pad > 0 ? $"{bare},\"pad\":\"{new string('x', pad)}\"}}" : bare + "}";
    }

    protected static void ObservePeerPayload(ReadOnlySpan<byte> json, SequenceTracker tracker, Metrics metrics)
    {
        var (seq, ts) = ReadPeerPayload(json);
        tracker.Observe(seq);
        metrics.Latency(ts);
    }

    /// <summary>The sequence number and the publisher's timestamp, read straight from the event's bytes.</summary>
    protected static (long Seq, long Ts) ReadPeerPayload(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        long seq = 0, ts = 0;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                var isSeq = reader.ValueTextEquals("seq"u8);
                var isTs = reader.ValueTextEquals("ts"u8);
                reader.Read();
                if (isSeq)
                {
                    seq = reader.GetInt64();
                }
                else if (isTs)
                {
                    ts = reader.GetInt64();
                }
            }
        }

        return (seq, ts);
    }
}

/// <summary>One open subscription; disposing it drops the connection.</summary>
public sealed class Subscriber(SequenceTracker tracker, Func<ValueTask> close) : IAsyncDisposable
{
    public SequenceTracker Tracker { get; } = tracker;

    public ValueTask DisposeAsync() => close();
}

public abstract class PeerTarget : Target
{
    public override Task PublishAsync(long sequence, long due, CancellationToken cancellationToken)
    {
        MarkSent();
        return Http.PostAsync(BaseUrl + "/publish", new StringContent(PeerPayload(sequence, due), Encoding.UTF8, "application/json"), cancellationToken);
    }

    protected static async Task<Subscriber> WebSocketSubscriberAsync(Uri uri, Metrics metrics, Func<ClientWebSocket, ReadOnlyMemory<byte>, SequenceTracker, Task> onMessage, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await socket.ConnectAsync(uri, cancellationToken);
        var tracker = new SequenceTracker(metrics);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                while (!cts.IsCancellationRequested)
                {
                    var result = await socket.ReceiveAsync(buffer, cts.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    await onMessage(socket, buffer.AsMemory(0, result.Count), tracker);
                }
            }
            catch (Exception) when (cts.IsCancellationRequested || socket.State != WebSocketState.Open)
            {
            }
        }, CancellationToken.None);
        return new Subscriber(tracker, async () =>
        {
            await cts.CancelAsync();
            socket.Abort();
            await loop;
            socket.Dispose();
            cts.Dispose();
        });
    }

    protected static async Task<Subscriber> SseSubscriberAsync(string url, Metrics metrics, CancellationToken cancellationToken, Action<HttpRequestMessage>? prepare = null)
    {
        var tracker = new SequenceTracker(metrics);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/event-stream");
        prepare?.Invoke(request);
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.EnsureSuccessStatusCode();
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        var loop = Task.Run(async () =>
        {
            try
            {
                // Read from the event's bytes, as for our server: no string per event and subscriber.
                await foreach (var item in SseParser.Create(stream, static (_, data) => ReadPeerPayload(data)).EnumerateAsync(cts.Token))
                {
                    tracker.Observe(item.Data.Seq);
                    metrics.Latency(item.Data.Ts);
                }
            }
            catch (Exception) when (cts.IsCancellationRequested)
            {
            }
            catch (IOException)
            {
            }
        }, CancellationToken.None);
        return new Subscriber(tracker, async () =>
        {
            await cts.CancelAsync();
            response.Dispose();
            await loop;
            cts.Dispose();
        });
    }
}

public sealed class NodeTarget(string name, string script, string peersDirectory) : PeerTarget
{
    public override string Name => name;

    public override Task StartAsync(int port) =>
        LaunchAsync("node", $"{script} {port}", port, "/clients", workingDirectory: peersDirectory);

    public override Task<Subscriber> SubscribeAsync(int index, Metrics metrics, CancellationToken cancellationToken) => script switch
    {
        "ws-server.js" => WebSocketSubscriberAsync(new Uri($"ws{BaseUrl[4..]}/"), metrics, (_, data, tracker) =>
        {
            ObservePeerPayload(data.Span, tracker, metrics);
            return Task.CompletedTask;
        }, cancellationToken),
        "sse-server.js" => SseSubscriberAsync(BaseUrl + "/events", metrics, cancellationToken),
        _ => WebSocketSubscriberAsync(new Uri($"ws{BaseUrl[4..]}/socket.io/?EIO=4&transport=websocket"), metrics, async (socket, data, tracker) =>
        {
            // Engine.IO v4 framing: "0" open, "2" ping, "40" namespace connect, "42[...]" event.
            var span = data.Span;
            if (span.Length == 0)
            {
                return;
            }

            if (span[0] == (byte)'0')
            {
                await socket.SendAsync("40"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            }
            else if (span.Length == 1 && span[0] == (byte)'2')
            {
                await socket.SendAsync("3"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            }
            else if (span.Length > 2 && span[0] == (byte)'4' && span[1] == (byte)'2')
            {
                using var doc = JsonDocument.Parse(data[2..]);
                ObservePeerPayload(Encoding.UTF8.GetBytes(doc.RootElement[1].GetString()!), tracker, metrics);
            }
        }, cancellationToken),
    };
}

public sealed class AspNetPeerTarget(string name, string dll, bool signalR) : PeerTarget
{
    public override string Name => name;

    public override Task StartAsync(int port) =>
        LaunchAsync("dotnet", $"{dll} --urls http://127.0.0.1:{port}", port, "/clients", new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" });

    public override async Task<Subscriber> SubscribeAsync(int index, Metrics metrics, CancellationToken cancellationToken)
    {
        if (!signalR)
        {
            return await SseSubscriberAsync(BaseUrl + "/sse", metrics, cancellationToken);
        }

        var tracker = new SequenceTracker(metrics);
        var connection = new HubConnectionBuilder()
            .WithUrl(BaseUrl + "/hub", o =>
            {
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .Build();
        connection.On<string>("event", body => ObservePeerPayload(Encoding.UTF8.GetBytes(body), tracker, metrics));
        await connection.StartAsync(cancellationToken);
        return new Subscriber(tracker, () => connection.DisposeAsync());
    }
}
