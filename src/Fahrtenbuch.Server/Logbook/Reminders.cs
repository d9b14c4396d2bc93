using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Logbook;

public static class ReminderKinds
{
    /// <summary>The trip was started long ago and never completed (the car was probably returned without ending it).</summary>
    public const string StillActive = "still-active";

    /// <summary>A completed trip lacks fields the company's country profile requires for its category.</summary>
    public const string DetailsMissing = "details-missing";
}

public sealed record ReminderResponse(Guid TripId, Guid VehicleId, Guid DriverId, string Kind, string Message, DateTimeOffset Since, IReadOnlyList<string> Missing);

public static class ReminderRules
{
    /// <summary>The reminders that apply now; for one driver when <paramref name="driverId"/> is set.</summary>
    public static async Task<List<ReminderResponse>> FindAsync(AppDbContext db, LogbookOptions options, DateTimeOffset now, Guid? driverId, CancellationToken cancellationToken)
    {
        var country = await db.Companies.Where(c => c.Id == db.CompanyId).Select(c => c.Country).SingleAsync(cancellationToken);
        var profile = CountryProfile.For(country);
        var activeBefore = now - options.ActiveTripReminderAfter;
        var reminders = new List<ReminderResponse>();
        var stale = await db.Trips.AsNoTracking().IgnoreAutoIncludes()
            .Where(t => t.State == TripState.Active && t.StartedAt < activeBefore && (driverId == null || t.DriverId == driverId))
            .OrderBy(t => t.StartedAt).ToListAsync(cancellationToken);
        reminders.AddRange(stale.Select(t => new ReminderResponse(t.Id, t.VehicleId, t.DriverId, ReminderKinds.StillActive,
            "Fahrt läuft seit über einem Tag – bitte abschließen. / Trip still active for more than a day – please complete it.", t.StartedAt, [])));

        // Only categories with fields beyond what completion already enforces can lack anything; unlocked trips only (locked ones take annotations).
        var completed = await db.Trips.AsNoTracking().IgnoreAutoIncludes()
            .Where(t => t.State == TripState.Completed && t.LockedAt == null && t.Category == TripCategory.Business && (driverId == null || t.DriverId == driverId))
            .ToListAsync(cancellationToken);
        foreach (var trip in completed)
        {
            var missing = profile.Missing(trip);
            if (missing.Count > 0)
            {
                reminders.Add(new ReminderResponse(trip.Id, trip.VehicleId, trip.DriverId, ReminderKinds.DetailsMissing,
                    $"Angaben fehlen / details missing ({profile.Country}): {string.Join(", ", missing)}", trip.EndedAt ?? trip.StartedAt, missing));
            }
        }

        return reminders;
    }

    public static async Task<Ok<List<ReminderResponse>>> List(CurrentUser me, AppDbContext db, IOptions<LogbookOptions> options, TimeProvider time, CancellationToken cancellationToken) =>
        TypedResults.Ok(await FindAsync(db, options.Value, time.GetUtcNow(), me.SeesWholeCompany ? null : me.Id, cancellationToken));
}

/// <summary>
/// Periodically writes <c>trip.reminder</c> events (for the trip's driver) through the event log, so the apps
/// show them live; each reminder for a trip repeats at most every <see cref="LogbookOptions.ReminderRepeat"/>.
/// </summary>
public sealed class ReminderService(IServiceProvider services, TimeProvider time, IOptions<LogbookOptions> options, ILogger<ReminderService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReminderInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Sending trip reminders failed; trying again next round.");
            }
        }
    }

    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        List<Guid> companies;
        await using (var scope = services.CreateAsyncScope())
        {
            companies = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Companies.Select(c => c.Id).ToListAsync(cancellationToken);
        }

        foreach (var companyId in companies)
        {
            await using var scope = services.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = companyId;
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await using var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(cancellationToken);
            var due = await ReminderRules.FindAsync(db, options.Value, write.Now, null, cancellationToken);
            if (due.Count == 0)
            {
                continue;
            }

            var tripIds = due.Select(r => r.TripId).ToList();
            var sent = await db.RemindersSent.Where(r => tripIds.Contains(r.TripId)).ToListAsync(cancellationToken);
            foreach (var reminder in due)
            {
                var previous = sent.SingleOrDefault(s => s.TripId == reminder.TripId && s.Kind == reminder.Kind);
                if (previous is not null && previous.SentAt + options.Value.ReminderRepeat > write.Now)
                {
                    continue;
                }

                if (previous is null)
                {
                    db.RemindersSent.Add(new ReminderSent(companyId, reminder.TripId, reminder.Kind, write.Now));
                }
                else
                {
                    previous.Resend(write.Now);
                }

                write.Append(LogbookEvents.TripReminder, reminder, vehicleId: reminder.VehicleId, tripId: reminder.TripId, ownerId: reminder.DriverId,
                    restrictedData: new { reminder.TripId, reminder.Kind }, audience: EventAudience.Owner);
            }

            await db.SaveChangesAsync(cancellationToken);
            await write.CommitAsync(cancellationToken);
        }
    }
}
