using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Logbook;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// Events (and journal entries) are inserted by a plain statement built from the EF model, not by <c>SaveChanges</c>: what
/// EF reads back must be exactly what was appended, every column and conversion, on each provider the suite runs on.
/// </summary>
public sealed class AppendOnlyRowsTests(AppFactory app) : IClassFixture<AppFactory>
{
    [Fact]
    public async Task AppendedEvents_ReadBackThroughEf_ColumnForColumn_AlsoWhenAWriteSpansSeveralStatements()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(cancellationToken));
        await using var scope = app.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = company;
        var write = await scope.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(cancellationToken);
        var vehicleId = Guid.NewGuid();
        var ownerId = Guid.NewGuid();

        // More events than one statement carries, with every optional column both set and empty.
        for (var i = 0; i < 75; i++)
        {
            var audience = (EventAudience)(i % 3);
            write.Append(
                "test.appended",
                new { index = i, text = "Fahrt nach Köln \"mit\" Umlauten" },
                vehicleId: i % 2 == 0 ? vehicleId : null,
                tripId: i % 5 == 0 ? Guid.NewGuid() : null,
                ownerId: audience == EventAudience.Company && i % 4 == 0 ? null : ownerId,
                restrictedData: audience == EventAudience.Company ? null : new { index = i },
                audience: audience);
        }

        var appended = write.Events.ToList();
        await write.CommitAsync(cancellationToken);

        var first = appended[0].Position;
        var stored = await app.QueryAsync(db => db.Events.IgnoreQueryFilters().AsNoTracking()
            .Where(e => e.CompanyId == company && e.Position >= first)
            .OrderBy(e => e.Position)
            .ToListAsync(cancellationToken));
        Assert.Equal(appended.Count, stored.Count);
        foreach (var (expected, actual) in appended.Zip(stored))
        {
            Assert.Equal(
                (expected.CompanyId, expected.Position, expected.Type, expected.OccurredAt, expected.Data, expected.RestrictedData, expected.Audience, expected.VehicleId, expected.TripId, expected.OwnerId),
                (actual.CompanyId, actual.Position, actual.Type, actual.OccurredAt, actual.Data, actual.RestrictedData, actual.Audience, actual.VehicleId, actual.TripId, actual.OwnerId));
        }

        // The head moved with them, and a query on a converted column (the instant) finds them.
        var head = await app.QueryAsync(db => db.Companies.Where(c => c.Id == company).Select(c => c.LogHead).SingleAsync(cancellationToken));
        Assert.Equal(appended[^1].Position, head);
        var at = appended[0].OccurredAt;
        var atThatInstant = await app.QueryAsync(db => db.Events.IgnoreQueryFilters()
            .CountAsync(e => e.CompanyId == company && e.Type == "test.appended" && e.OccurredAt == at, cancellationToken));
        Assert.Equal(appended.Count, atThatInstant);
    }

    [Fact]
    public async Task ARowWithoutTheKeySaveChangesWouldHaveGenerated_IsRefused_AndNothingIsStored()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var before = await db.JournalEntries.IgnoreQueryFilters().CountAsync(cancellationToken);

        // As EF materialises it: no id. SaveChanges would generate one; the plain insert must refuse instead of storing an empty key.
        var entry = (JournalEntry)Activator.CreateInstance(typeof(JournalEntry), nonPublic: true)!;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => AppendOnlyRows.InsertAsync(db, [entry], cancellationToken));
            Assert.Contains("JournalEntry.Id is not set", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, await db.JournalEntries.IgnoreQueryFilters().CountAsync(cancellationToken));
    }
}
