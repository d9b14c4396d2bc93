namespace Fahrtenbuch.Client.Simulation;

/// <summary>
/// Sets up N virtual drivers (invited by a fleet manager, each with a car of its own and an outbox file
/// in <c>directory</c>) and runs them side by side for a given time.
/// </summary>
public sealed class Simulator(Uri server, string directory, Func<HttpMessageHandler>? handlers = null)
{
    public const string Password = "Simulation-Password-2026";

    public SimulationStats Stats { get; } = new();

    public List<SimulatedDriver> Drivers { get; } = [];

    public async Task SetUpAsync(FahrtenbuchClient manager, int drivers, int seed, CancellationToken cancellationToken)
    {
        var random = new Random(seed);
        var run = Guid.NewGuid().ToString("N")[..6];
        for (var i = 0; i < drivers; i++)
        {
            var email = $"sim-{run}-{i}@simulation.local";
            var (_, code) = await manager.InviteAsync(email, $"Sim {run} {i}", "driver", cancellationToken);
            var vehicle = await manager.CreateVehicleAsync($"SIM {run[..3].ToUpperInvariant()} {i}", $"Simulationswagen {i}", random.Next(1_000, 200_000), cancellationToken);
            var client = new FahrtenbuchClient(server, handler: handlers?.Invoke());
            await RetryAsync(
                async () =>
                {
                    try
                    {
                        return await client.AcceptInvitationAsync(email, code, Password, cancellationToken);
                    }
                    catch (FahrtenbuchApiException e) when (e.Code == "auth.invitation-invalid")
                    {
                        // Accepted by an earlier attempt whose answer was lost: the password is set, so sign in.
                        return await client.LoginAsync(email, Password, cancellationToken);
                    }
                },
                cancellationToken);
            var outbox = new Outbox(Path.Combine(directory, $"driver-{run}-{i}.db"));
            Drivers.Add(new SimulatedDriver(client, outbox, vehicle.Id, vehicle.CurrentOdometer, new Random(seed + i + 1), Stats));
        }
    }

    public Task RunAsync(TimeSpan duration, CancellationToken cancellationToken) =>
        Task.WhenAll(Drivers.Select(d => d.RunAsync(duration, cancellationToken)));

    /// <summary>Retries a call over an unreliable network (used for sign-in through a faulty proxy).</summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken, int attempts = 20)
    {
        for (var i = 1; ; i++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (i < attempts && e is HttpRequestException or IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 * i), cancellationToken);
            }
        }
    }
}
