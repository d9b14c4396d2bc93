using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Live;
using Fahrtenbuch.Server.Setup;
using Fahrtenbuch.Server.Tests.Live;

namespace Fahrtenbuch.Server.Tests.Cluster;

/// <summary>
/// Production shape on 127.0.0.1: two server processes (the Release build of the server, so one can be SIGKILLed) on one
/// PostgreSQL database, a redis-server of their own (so it can be killed and restarted) and nginx in front, running
/// deploy/fahrtenbuch-locations.conf. Needs <c>FAHRTENBUCH_TEST_DB=postgres</c>, <c>FAHRTENBUCH_TEST_REDIS_SERVER</c>
/// (the redis-server binary) and <c>FAHRTENBUCH_TEST_NGINX</c> (the nginx binary); otherwise its tests skip.
/// </summary>
public sealed class ServerCluster : IAsyncLifetime
{
    public const string RedisServerVariable = "FAHRTENBUCH_TEST_REDIS_SERVER";
    public const string NginxVariable = "FAHRTENBUCH_TEST_NGINX";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "fahrtenbuch-cluster-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly ConcurrentQueue<string> _output = new();
    private readonly string _signingKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
    private readonly Process?[] _instances = new Process?[2];
    private readonly int[] _ports = new int[2];
    private TestDatabase? _database;
    private Process? _redis;
    private Process? _nginx;
    private int _redisPort;

    public string? SkipReason { get; } = FindSkipReason();

    /// <summary>nginx, round robin over both instances.</summary>
    public Uri Proxy { get; private set; } = null!;

    public Uri Instance(int i) => new($"http://127.0.0.1:{_ports[i]}");

    /// <summary>The last lines the processes wrote, for a failure message.</summary>
    public string Output => string.Join('\n', _output.TakeLast(60));

    public async ValueTask InitializeAsync()
    {
        if (SkipReason is not null)
        {
            return;
        }

        Directory.CreateDirectory(_directory);
        _database = TestDatabase.FromEnvironment("cluster_" + Path.GetFileName(_directory)[^12..]);
        _redisPort = FreePort();
        _ports[0] = FreePort();
        _ports[1] = FreePort();
        await StartRedisAsync();
        await StartInstanceAsync(0);
        await StartInstanceAsync(1);
        StartNginx();
        await WaitAsync(async () => (await new HttpClient().GetAsync(new Uri(Proxy, "/health/ready"))).IsSuccessStatusCode, "nginx");
    }

    public void SkipWhenUnavailable()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    public void Kill(int i)
    {
        _instances[i]!.Kill();
        _instances[i]!.WaitForExit();
        _instances[i]!.Dispose();
        _instances[i] = null;
    }

    public async Task EnsureRunningAsync()
    {
        for (var i = 0; i < _instances.Length; i++)
        {
            if (_instances[i] is null)
            {
                await StartInstanceAsync(i);
            }
        }
    }

    /// <summary>SIGKILL, then a new redis-server on the same port (empty: pub/sub keeps nothing anyway).</summary>
    public async Task RestartRedisAsync(TimeSpan down)
    {
        _redis!.Kill();
        await _redis.WaitForExitAsync();
        _redis.Dispose();
        await Task.Delay(down);
        await StartRedisAsync();
    }

    public static HttpClient Client(Uri baseAddress, string? token = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task<string> TokenAsync(string email)
    {
        using var client = Client(Proxy);
        var response = await client.PostAsJsonAsync("/api/auth/login", new { email, password = DemoData.Password });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TokenResponse>(TestJson.Options))!.AccessToken;
    }

    public static async Task<SseClient> OpenStreamAsync(Uri baseAddress, string token, long after, CancellationToken cancellationToken)
    {
        var client = Client(baseAddress, token);
        client.Timeout = Timeout.InfiniteTimeSpan;
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        request.Headers.TryAddWithoutValidation(LiveEndpoints.LastEventIdHeader, after.ToString());
        try
        {
            var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            response.EnsureSuccessStatusCode();
            return new SseClient(client, response, await response.Content.ReadAsStreamAsync(cancellationToken), startReading: true);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _instances.Append(_nginx).Append(_redis))
        {
            if (process is not null)
            {
                // The whole tree: nginx's worker outlives a killed master and holds the output pipe open, so
                // WaitForExitAsync (which also waits for the end of the redirected output) would never return.
                try
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
                catch (Exception e) when (e is InvalidOperationException or TimeoutException)
                {
                }

                process.Dispose();
            }
        }

        _database?.Drop();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string? FindSkipReason()
    {
        if (!TestDatabase.UsesPostgres)
        {
            return $"multi-instance tests run in the PostgreSQL pass only ({TestDatabase.ProviderVariable}=postgres)";
        }

        foreach (var variable in new[] { RedisServerVariable, NginxVariable })
        {
            if (Environment.GetEnvironmentVariable(variable) is not { Length: > 0 } path || !File.Exists(path))
            {
                return $"multi-instance tests need {variable} (the binary's path; scripts/test.sh sets it)";
            }
        }

        return File.Exists(ServerDll) ? null : $"multi-instance tests need the built server at {ServerDll}";
    }

    private static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Fahrtenbuch.slnx")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("Fahrtenbuch.slnx not found above the test binaries");
        }
    }

    // The same configuration as the test assembly (bin/<Configuration>/net10.0).
    private static string ServerDll => Path.Combine(
        RepositoryRoot, "src", "Fahrtenbuch.Server", "bin", new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name, "net10.0", "Fahrtenbuch.Server.dll");

    private async Task StartRedisAsync()
    {
        _redis = Run("redis", Environment.GetEnvironmentVariable(RedisServerVariable)!,
            ["--port", _redisPort.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], null);
        await WaitAsync(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, _redisPort);
            return true;
        }, "redis-server");
    }

    private async Task StartInstanceAsync(int i)
    {
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Testing",
            ["Urls"] = Instance(i).ToString().TrimEnd('/'),
            ["Storage__DataDirectory"] = Path.Combine(_directory, "data"),
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__Fahrtenbuch"] = _database!.ConnectionString,
            ["Seed__Demo"] = i == 0 ? "true" : "false",
            ["Auth__SigningKey"] = _signingKey,
            ["Redis__Connection"] = $"127.0.0.1:{_redisPort},connectTimeout=1000,asyncTimeout=2000,syncTimeout=2000",
            ["Redis__HeadCheckSeconds"] = "0.5",
            ["Live__HeartbeatSeconds"] = "1",
            ["Live__RetryMilliseconds"] = "200",
            ["Limits__LoginPerMinute"] = "10000",
            ["Limits__WritesPerSecond"] = "10000",
            ["Limits__WriteBurst"] = "10000",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Fahrtenbuch"] = "Information",
        };
        _instances[i] = Run($"server{i}", "dotnet", [ServerDll], environment);
        using var client = new HttpClient();
        await WaitAsync(async () => (await client.GetAsync(new Uri(Instance(i), "/health/ready"))).IsSuccessStatusCode, $"server {i}");
    }

    private void StartNginx()
    {
        var port = FreePort();
        Proxy = new Uri($"http://127.0.0.1:{port}");
        var nginx = Path.Combine(_directory, "nginx");
        Directory.CreateDirectory(nginx);

        // nginx started as root runs its workers as nobody, which must be able to write its temp folders.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(nginx, (UnixFileMode)0x1FF);
        }
        var servers = string.Join(' ', _ports.Select(p => $"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"));
        File.WriteAllText(Path.Combine(nginx, "nginx.conf"), $$"""
            worker_processes 1;
            pid {{nginx}}/nginx.pid;
            error_log {{nginx}}/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path {{nginx}}/client;
                proxy_temp_path {{nginx}}/proxy;
                fastcgi_temp_path {{nginx}}/fastcgi;
                uwsgi_temp_path {{nginx}}/uwsgi;
                scgi_temp_path {{nginx}}/scgi;
                upstream fahrtenbuch { {{servers}} keepalive 16; }
                upstream fahrtenbuch_hubs { hash $remote_addr consistent; {{servers}} }
                map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
                server {
                    listen 127.0.0.1:{{port}};
                    include {{Path.Combine(RepositoryRoot, "deploy", "fahrtenbuch-locations.conf")}};
                }
            }
            """);
        _nginx = Run("nginx", Environment.GetEnvironmentVariable(NginxVariable)!,
            ["-p", nginx, "-c", Path.Combine(nginx, "nginx.conf"), "-e", Path.Combine(nginx, "error.log"), "-g", "daemon off;"], null);
    }

    private Process Run(string name, string file, string[] arguments, Dictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(ServerDll)!,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(name, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(name, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Keep(string name, string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue($"[{name}] {line}");
        while (_output.Count > 500)
        {
            _output.TryDequeue(out _);
        }
    }

    private async Task WaitAsync(Func<Task<bool>> ready, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{what} did not become ready in 30 s:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
