using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace LoadGen;

/// <summary>
/// Our server as users run it: a Release build on a fresh SQLite file, SSE subscribers authenticated
/// with a fleet manager's bearer token, events produced by real REST trip starts and completions
/// through the database log (each write commits a trip event and a vehicle status event).
/// </summary>
public sealed class FahrtenbuchTarget(string serverDll, int writers) : Target
{
    private const string Password = "Fahrtenbuch-Demo-2026";
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "fahrtenbuch-bench", Guid.NewGuid().ToString("N"));
    private readonly ConcurrentDictionary<Guid, long> _published = new();
    private readonly List<Writer> _writers = [];
    private readonly List<string> _subscriberTokens = [];

    /// <summary>How our server is named in the table (and on the command line).</summary>
    public const string ServerName = "fahrtenbuch";

    public override string Name => ServerName;

    public override int EventsPerPublish => 2;

    public override bool Resumes => true;

    /// <summary>Our log orders concurrent writes itself; several drivers write at once as in real use.</summary>
    public override bool SequentialPublish => false;

    /// <summary>One per driver (<c>--writers</c>, 16 by default): each writes on their own car, one write at a time.</summary>
    public override int ConcurrentPublishers => writers;

    public override async Task StartAsync(int port)
    {
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Seed__Demo"] = "true",
            ["DOTNET_gcServer"] = "0",
            ["Storage__DataDirectory"] = _dataDirectory,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Limits__WritesPerSecond"] = "100000",
            ["Limits__WriteBurst"] = "100000",
            ["Limits__LoginPerMinute"] = "10000",
            ["Live__MaxConnectionsPerUser"] = "10000",
            ["Live__MaxConnections"] = "100000",
        };
        await LaunchAsync("dotnet", $"{serverDll} --urls http://127.0.0.1:{port}", port, "/health/live", environment);
        var manager = await LoginAsync("chef@demo.local", Password);

        // Subscribers are the fleet manager and the auditor (both see the whole company), split below the per-user cap.
        _subscriberTokens.Add(manager);
        _subscriberTokens.Add(await LoginAsync("pruefer@demo.local", Password));
        for (var i = 0; i < writers; i++)
        {
            var vehicle = await PostAsync<JsonElement>(manager, "/api/vehicles", new { plate = $"B BE {1000 + i}", name = $"Bench {i}", initialOdometer = 10_000 });
            var email = $"bench{i}@demo.local";
            var invitation = await PostAsync<JsonElement>(manager, "/api/users", new { email, displayName = $"Bench Driver {i}", role = "driver" });
            var tokens = await PostAsync<JsonElement>(null, "/api/auth/accept-invitation", new { email, code = invitation.GetProperty("invitationCode").GetString(), password = Password });
            _writers.Add(new Writer(tokens.GetProperty("accessToken").GetString()!, vehicle.GetProperty("id").GetGuid(), 10_000));
        }
    }

    public override Task<Subscriber> SubscribeAsync(int index, Metrics metrics, CancellationToken cancellationToken) =>
        SubscribeFromAsync(null, metrics, cancellationToken, index: index);

    /// <summary>Opens a stream, resuming after <paramref name="lastEventId"/> when given.</summary>
    public Task<Subscriber> SubscribeFromAsync(long? lastEventId, Metrics metrics, CancellationToken cancellationToken, SequenceTracker? tracker = null, int index = 0) =>
        SseAsync(lastEventId, _subscriberTokens[index % _subscriberTokens.Count], metrics, cancellationToken, tracker);

    public override async Task PublishAsync(long sequence, long due, CancellationToken cancellationToken)
    {
        var writer = _writers[(int)(sequence % _writers.Count)];
        // A driver writes one trip at a time: a write due while the last one is still under way goes out after it.
        await writer.Gate.WaitAsync(cancellationToken);
        MarkSent();
        try
        {
            if (writer.ActiveTrip is { } trip)
            {
                writer.Odometer += 12;
                _published[Key(trip, completed: true)] = due;
                await SendAsync(writer.Token, $"/api/trips/{trip}/complete", new { endOdometer = writer.Odometer, category = "private" }, cancellationToken);
                writer.ActiveTrip = null;
            }
            else
            {
                var id = Guid.CreateVersion7();
                _published[Key(id, completed: false)] = due;
                await SendAsync(writer.Token, "/api/trips", new { id, vehicleId = writer.VehicleId, startOdometer = writer.Odometer }, cancellationToken);
                writer.ActiveTrip = id;
            }
        }
        finally
        {
            writer.Gate.Release();
        }
    }

    /// <summary>
    /// The server's own account of its write path from <c>/metrics</c>, to subtract two readings: the lock's hold histogram
    /// (sum and count; on SQLite the write rate is one write per lock cycle, so this says where a write's time went), the CPU
    /// the holder used meanwhile (the rest of the hold waited for the disk or a core), the
    /// commits of groups of writes, and the trip writes whose draft ahead of the lock had to be redone under it.
    /// </summary>
    public async Task<WritePathReading> WritePathAsync()
    {
        var text = await Http.GetStringAsync(BaseUrl + "/metrics");
        double Sum(string name, string? label = null) => text.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && (l[name.Length] == ' ' || l[name.Length] == '{')
                && (label is null || l.Contains(label, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
        return new WritePathReading(
            Sum("fahrtenbuch_write_lock_held_seconds_sum"), Sum("fahrtenbuch_write_lock_held_seconds_count"),
            Sum("fahrtenbuch_write_lock_cpu_seconds_sum"), Sum("fahrtenbuch_write_lock_cpu_seconds_count"),
            Sum("fahrtenbuch_write_group_size_count"), Sum("fahrtenbuch_write_drafts_total", "outcome=\"redone\""));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<Subscriber> SseAsync(long? lastEventId, string token, Metrics metrics, CancellationToken cancellationToken, SequenceTracker? existing)
    {
        var tracker = existing ?? new SequenceTracker(metrics);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var request = new HttpRequestMessage(HttpMethod.Get, BaseUrl + "/api/events");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is { } last)
        {
            request.Headers.Add("Last-Event-ID", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.EnsureSuccessStatusCode();
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        var loop = Task.Run(async () =>
        {
            try
            {
                // The trip id is read straight from the event's bytes: 1,000 subscribers resuming share the generator's cores
                // with the server, and a string per event and subscriber made the generator the slower of the two.
                var parser = System.Net.ServerSentEvents.SseParser.Create(
                    stream, static (type, data) => type is "trip.started" or "trip.completed" ? ReadId(data) : Guid.Empty);
                await foreach (var item in parser.EnumerateAsync(cts.Token))
                {
                    if (!long.TryParse(item.EventId, out var position) || item.EventType is "reset" or "shutdown")
                    {
                        continue;
                    }

                    tracker.Observe(position);
                    if (item.Data != Guid.Empty && _published.TryGetValue(Key(item.Data, item.EventType == "trip.completed"), out var sent))
                    {
                        metrics.Latency(sent);
                    }
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

    private static Guid ReadId(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                return reader.GetGuid();
            }
        }

        return Guid.Empty;
    }

    private static Guid Key(Guid trip, bool completed) => completed ? new Guid(XorLast(trip.ToByteArray())) : trip;

    private static byte[] XorLast(byte[] bytes)
    {
        bytes[^1] ^= 0xFF;
        return bytes;
    }

    private async Task<string> LoginAsync(string email, string password)
    {
        var tokens = await PostAsync<JsonElement>(null, "/api/auth/login", new { email, password });
        return tokens.GetProperty("accessToken").GetString()!;
    }

    private async Task<T> PostAsync<T>(string? token, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, BaseUrl + path) { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await Http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        return (await response.Content.ReadFromJsonAsync<T>())!;
    }

    /// <summary>
    /// How long the REST writes took, from sending to the response: the part of an event's delivery latency that the peers,
    /// which publish without a database, do not have.
    /// </summary>
    public Metrics Writes { get; } = new();

    private async Task SendAsync(string token, string path, object body, CancellationToken cancellationToken)
    {
        var sent = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(HttpMethod.Post, BaseUrl + path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        Writes.Latency(sent);
    }

    private sealed class Writer(string token, Guid vehicleId, int odometer)
    {
        public string Token { get; } = token;

        public Guid VehicleId { get; } = vehicleId;

        public int Odometer { get; set; } = odometer;

        public Guid? ActiveTrip { get; set; }

        public SemaphoreSlim Gate { get; } = new(1, 1);
    }
}

/// <summary>Counters of the server's write path at one moment (see <see cref="FahrtenbuchTarget.WritePathAsync"/>).</summary>
public readonly record struct WritePathReading(double HeldSeconds, double Writes, double CpuSeconds, double CpuWrites, double Groups, double DraftsRedone);
