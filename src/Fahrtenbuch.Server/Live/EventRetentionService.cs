using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Live;

/// <summary>Prunes events older than the retention window; a client that asks for one of them gets a <c>reset</c>.</summary>
public sealed class EventRetentionService(IServiceScopeFactory scopes, IOptions<LiveOptions> options, TimeProvider time, ILogger<EventRetentionService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var pruned = await PruneAsync(stoppingToken);
                    if (pruned > 0)
                    {
                        logger.LogInformation("Pruned {Count} events older than {Days} days", pruned, options.Value.RetentionDays);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Pruning the event log failed; retrying at the next interval");
                }

                await Task.Delay(TimeSpan.FromMinutes(options.Value.PruneIntervalMinutes), time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().AddDays(-options.Value.RetentionDays);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Infrastructure.AppDbContext>();
        return await db.Events.IgnoreQueryFilters().Where(e => e.OccurredAt < cutoff).ExecuteDeleteAsync(cancellationToken);
    }
}
