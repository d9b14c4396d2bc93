using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Fahrtenbuch.Server.Tests.Sync;

/// <summary>
/// A TCP proxy on 127.0.0.1 that cuts some connections abruptly (RST) after a random number of bytes,
/// either while the request is going up or while the response is coming down. With
/// <see cref="Online"/> off it refuses to forward at all, like a phone in a tunnel.
/// </summary>
public sealed class FaultyProxy : IAsyncDisposable
{
    private IPEndPoint _target;
    private readonly double _cutChance;
    private readonly Random _random;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private int _cutsUp;
    private int _cutsDown;
    private int _connections;

    public FaultyProxy(IPEndPoint target, double cutChance, int seed)
    {
        _target = target;
        _cutChance = cutChance;
        _random = new Random(seed);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public bool Online { get; set; } = true;

    /// <summary>Where new connections go; a test points it at a restarted server on another port.</summary>
    public IPEndPoint Target
    {
        get => Volatile.Read(ref _target);
        set => Volatile.Write(ref _target, value);
    }

    public int CutsMidRequest => _cutsUp;

    public int CutsMidResponse => _cutsDown;

    public int Connections => _connections;

    /// <summary>Drops every connection open right now (RST), like a phone switching networks.</summary>
    public void CutAll()
    {
        foreach (var socket in _open.Keys)
        {
            Reset(socket);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopping.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Interlocked.Increment(ref _connections);
            if (!Online)
            {
                Reset(client);
                continue;
            }

            int? cutUp = null, cutDown = null;
            lock (_random)
            {
                if (_random.NextDouble() < _cutChance)
                {
                    if (_random.Next(2) == 0)
                    {
                        cutUp = _random.Next(1, 4_000);
                    }
                    else
                    {
                        cutDown = _random.Next(1, 4_000);
                    }
                }
            }

            _ = Task.Run(() => RelayAsync(client, cutUp, cutDown));
        }
    }

    private async Task RelayAsync(Socket client, int? cutUp, int? cutDown)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(Target, _stop.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            Reset(client);
            return;
        }

        _open.TryAdd(client, 0);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var up = PumpAsync(client, server, cutUp, () => Interlocked.Increment(ref _cutsUp), done.Token);
        var down = PumpAsync(server, client, cutDown, () => Interlocked.Increment(ref _cutsDown), done.Token);
        await Task.WhenAny(up, down);
        _open.TryRemove(client, out _);
        await done.CancelAsync();
        Reset(client);
        Reset(server);
        await Task.WhenAll(up, down);
    }

    private static async Task PumpAsync(Socket from, Socket to, int? cutAfter, Action counted, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var forwarded = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                if (cutAfter is { } limit && forwarded + read >= limit)
                {
                    // Forward part of the data, then drop the connection in the middle of the message.
                    await to.SendAsync(buffer.AsMemory(0, Math.Max(0, limit - forwarded)), SocketFlags.None, cancellationToken);
                    counted();
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
                forwarded += read;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The other side went away or the proxy cut the connection.
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }
}
