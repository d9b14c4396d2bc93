using System.Net;
using System.Net.Http.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// The per-company position design under many concurrent writers (ARCHITECTURE.md, "Positions must be safe to resume from").
/// On PostgreSQL this is the test that would catch positions becoming visible out of order.
/// </summary>
public sealed class EventLogConcurrencyTests(AppFactory app) : IClassFixture<AppFactory>
{
    private const int CreatesPerCompany = 40;
    private const int UpdatesPerCompany = 20;

    [Fact]
    public async Task ConcurrentWrites_GetDensePositionsInCommitOrder_AndAReaderNeverSeesAGap()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var companies = new List<(Guid Id, HttpClient Client, Guid VehicleId, long HeadBefore)>();
        foreach (var email in new[] { "chef@demo.local", "chef@zweite.local" })
        {
            var client = await app.LoginAsync(email);
            var me = await client.GetFromJsonAsync<MeResponse>("/api/me", TestJson.Options, cancellationToken);
            var vehicles = await client.GetFromJsonAsync<List<VehicleResponse>>("/api/vehicles", TestJson.Options, cancellationToken);
            var head = await app.QueryAsync(db => db.Companies.Where(c => c.Id == me!.Company.Id).Select(c => c.LogHead).SingleAsync(cancellationToken));
            companies.Add((me!.Company.Id, client, vehicles![0].Id, head));
        }

        // Readers tail each company's log the way a resuming subscriber would: "everything after the last position I saw".
        using var writersDone = new CancellationTokenSource();
        var readers = companies.Select(c => Task.Run(() => TailAsync(c.Id, writersDone.Token), cancellationToken)).ToList();

        var writes = companies.SelectMany(c =>
                Enumerable.Range(0, CreatesPerCompany).Select(i => (c.Client, Create: true, Index: i, c.VehicleId))
                    .Concat(Enumerable.Range(0, UpdatesPerCompany).Select(i => (c.Client, Create: false, Index: i, c.VehicleId))))
            .OrderBy(_ => Random.Shared.Next())
            .ToList();
        await Parallel.ForEachAsync(writes, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (write, token) =>
        {
            var response = write.Create
                ? await write.Client.PostAsJsonAsync("/api/vehicles", new { plate = $"KT {Guid.NewGuid().ToString("N")[..8]}", name = $"Concurrent {write.Index}", initialOdometer = 1000 }, token)
                : await write.Client.PatchAsJsonAsync($"/api/vehicles/{write.VehicleId}", new { name = $"Renamed {write.Index}" }, token);
            Assert.Equal(write.Create ? HttpStatusCode.Created : HttpStatusCode.OK, response.StatusCode);
        });
        await writersDone.CancelAsync();
        var tails = await Task.WhenAll(readers);

        for (var i = 0; i < companies.Count; i++)
        {
            var company = companies[i];
            var events = await app.QueryAsync(db => db.Events.IgnoreQueryFilters()
                .Where(e => e.CompanyId == company.Id)
                .OrderBy(e => e.Position)
                .Select(e => new { e.Position, e.OccurredAt })
                .ToListAsync(cancellationToken));
            var head = await app.QueryAsync(db => db.Companies.Where(c => c.Id == company.Id).Select(c => c.LogHead).SingleAsync(cancellationToken));

            // A create appends one event, an update two (vehicle.updated, vehicle.status).
            Assert.Equal(company.HeadBefore + CreatesPerCompany + (2 * UpdatesPerCompany), head);
            Assert.Equal(Enumerable.Range(1, (int)head).Select(p => (long)p), events.Select(e => e.Position));

            // Each write takes its timestamp after it holds the company lock, so position order is commit order.
            Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.First.OccurredAt <= pair.Second.OccurredAt, $"position {pair.Second.Position} was written before {pair.First.Position}"));

            Assert.Empty(tails[i].Gaps);
            Assert.Equal(head, tails[i].Last);
        }
    }

    [Fact]
    public async Task CommittedWrite_LetsTheCompanysNextWriterIn_BeforeItIsDisposed()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var company = await app.QueryAsync(db => db.Companies.Select(c => c.Id).FirstAsync(cancellationToken));
        await using var first = app.Services.CreateAsyncScope();
        first.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = company;
        var write = await first.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);

        // Handlers build their response while the committed write is still in scope; the next writer must not wait for that.
        await using var second = app.Services.CreateAsyncScope();
        second.ServiceProvider.GetRequiredService<CompanyScope>().CompanyId = company;
        await using var next = await second.ServiceProvider.GetRequiredService<EventLog>().BeginAsync(cancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        await next.CommitAsync(cancellationToken);
        await write.DisposeAsync();
    }

    private async Task<(long Last, List<string> Gaps)> TailAsync(Guid companyId, CancellationToken writersDone)
    {
        long last = 0;
        var gaps = new List<string>();
        var finalRead = false;
        while (true)
        {
            var from = last;
            var positions = await app.QueryAsync(db => db.Events.IgnoreQueryFilters()
                .Where(e => e.CompanyId == companyId && e.Position > from)
                .OrderBy(e => e.Position)
                .Select(e => e.Position)
                .ToListAsync(CancellationToken.None));
            foreach (var position in positions)
            {
                if (position != last + 1)
                {
                    gaps.Add($"saw {position} after {last}");
                }

                last = position;
            }

            if (finalRead)
            {
                return (last, gaps);
            }

            // One more read after the writers finished, so the reader ends at the head.
            finalRead = writersDone.IsCancellationRequested;
            await Task.Delay(5, CancellationToken.None);
        }
    }
}
