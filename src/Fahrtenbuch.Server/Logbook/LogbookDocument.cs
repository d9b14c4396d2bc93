using System.Globalization;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Logbook;

public sealed record LogbookHeader(
    string Company, string Country, Guid VehicleId, string Plate, string VehicleName, DateOnly From, DateOnly To, string TimeZone,
    string? Fingerprint, bool JournalValid, int JournalEntries, string? JournalProblem, DateTimeOffset GeneratedAt, string GeneratedBy);

/// <summary>One line of the logbook: a trip (in odometer order) or an issue in the odometer chain before it.</summary>
public sealed record LogbookRow(
    string Kind,
    int? Number,
    Guid? TripId,
    DateTimeOffset? StartedAt,
    DateTimeOffset? EndedAt,
    int? StartOdometer,
    int? EndOdometer,
    int? Km,
    string? StartPlace,
    string? EndPlace,
    string? Destination,
    string? Purpose,
    string? BusinessPartner,
    TripCategory? Category,
    TaxCategory? TaxCategory,
    string? Driver,
    TripState? State,
    bool EnteredLate,
    DateTimeOffset? RecordedAt,
    DateTimeOffset? LockedAt,
    bool Restricted,
    string? VoidOrCancelReason,
    string? ClosedByName,
    DateTimeOffset? ClosedAt,
    IReadOnlyList<RevisionResponse> Revisions,
    IReadOnlyList<AnnotationResponse> Annotations,
    string? JournalHash,
    string? Note);

public sealed record LogbookTotals(int Trips, int VoidedOrCancelled, int TotalKm, int BusinessKm, int PrivateKm, int CommuteKm, int TaxBusinessKm, int TaxPrivateKm, int TaxCommuteKm, int UnrecordedKm);

public sealed record LogbookDocument(LogbookHeader Header, IReadOnlyList<LogbookRow> Rows, LogbookTotals Totals, TimeZoneInfo Zone)
{
    public string Local(DateTimeOffset? at, string format) =>
        at is null ? "" : TimeZoneInfo.ConvertTime(at.Value, Zone).ToString(format, CultureInfo.InvariantCulture);

    public static async Task<LogbookDocument> LoadAsync(
        AppDbContext db, JournalVerifier verifier, CurrentUser me, Guid vehicleId, DateOnly from, DateOnly to, LogbookOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var vehicle = await db.Vehicles.AsNoTracking().SingleOrDefaultAsync(v => v.Id == vehicleId, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        var company = await db.Companies.AsNoTracking().SingleAsync(c => c.Id == db.CompanyId, cancellationToken);
        var profile = CountryProfile.For(company.Country);
        var zone = options.Zone;
        var fromAt = Instant(from, zone);
        var toAt = Instant(to.AddDays(1), zone);
        var verification = await verifier.VerifyAsync(vehicleId, cancellationToken);
        var all = await db.Trips.AsNoTracking().Include(t => t.Revisions).Where(t => t.VehicleId == vehicleId).ToListAsync(cancellationToken);
        var issues = OdometerChain.Analyze(all, vehicle.InitialOdometer, options.GapToleranceKm);
        var explanations = await db.GapExplanations.AsNoTracking().Where(g => g.VehicleId == vehicleId).ToListAsync(cancellationToken);
        var hashes = (await db.JournalEntries.AsNoTracking().Where(j => j.VehicleId == vehicleId).OrderBy(j => j.Sequence)
            .Select(j => new { j.TripId, j.Hash }).ToListAsync(cancellationToken))
            .Where(j => j.TripId is not null).GroupBy(j => j.TripId!.Value).ToDictionary(g => g.Key, g => g.Last().Hash);
        var names = await db.UserNamesAsync(cancellationToken);

        var rows = new List<LogbookRow>();
        var number = 0;
        foreach (var trip in all.Where(t => t.StartedAt >= fromAt && t.StartedAt < toAt && t.State != TripState.Active)
            .OrderBy(t => t.StartOdometer).ThenBy(t => t.StartedAt).ThenBy(t => t.Id))
        {
            if (issues.TryGetValue(trip.Id, out var issue))
            {
                var explanation = explanations.SingleOrDefault(g => g.FromOdometer == issue.FromOdometer && g.ToOdometer == issue.ToOdometer);
                rows.Add(IssueRow(issue, explanation, names));
            }

            var restricted = !me.SeesDetails(trip);
            rows.Add(new LogbookRow(
                "trip", ++number, trip.Id, trip.StartedAt, trip.EndedAt, trip.StartOdometer, trip.EndOdometer, trip.DistanceKm,
                restricted ? null : trip.StartPlace, restricted ? null : trip.EndPlace, restricted ? null : trip.Destination,
                restricted ? null : trip.Purpose, restricted ? null : trip.BusinessPartner, trip.Category, profile.TaxCategoryOf(trip.Category),
                names.GetValueOrDefault(trip.DriverId), trip.State, trip.EnteredLate, trip.RecordedAt, trip.LockedAt, restricted,
                restricted ? null : trip.VoidReason ?? trip.CancelReason, trip.ClosedBy is { } by ? names.GetValueOrDefault(by) : null, trip.ClosedAt,
                restricted ? [] : trip.Revisions.OrderBy(r => r.Number).Select(r => new RevisionResponse(r.Number, r.ChangedBy, names.GetValueOrDefault(r.ChangedBy), r.ChangedAt, r.Reason, r.Changes)).ToList(),
                restricted ? [] : trip.Annotations.OrderBy(a => a.Number).Select(a => AnnotationResponse.From(a, names)).ToList(),
                hashes.GetValueOrDefault(trip.Id), null));
        }

        var counted = rows.Where(r => r.Kind == "trip" && r.State == TripState.Completed).ToList();
        int Sum(Func<LogbookRow, bool> which) => counted.Where(which).Sum(r => r.Km ?? 0);
        var totals = new LogbookTotals(
            counted.Count, rows.Count(r => r.Kind == "trip") - counted.Count, Sum(_ => true),
            Sum(r => r.Category == TripCategory.Business), Sum(r => r.Category == TripCategory.Private), Sum(r => r.Category == TripCategory.Commute),
            Sum(r => r.TaxCategory == Logbook.TaxCategory.Business), Sum(r => r.TaxCategory == Logbook.TaxCategory.Private), Sum(r => r.TaxCategory == Logbook.TaxCategory.Commute),
            rows.Where(r => r.Kind == "gap").Sum(r => r.Km ?? 0));
        var header = new LogbookHeader(company.Name, company.Country, vehicle.Id, vehicle.Plate, vehicle.Name, from, to, options.TimeZone,
            verification.Fingerprint, verification.Valid, verification.Entries, verification.Reason, now, names.GetValueOrDefault(me.Id) ?? me.Id.ToString());
        return new LogbookDocument(header, rows, totals, zone);
    }

    public static DateTimeOffset Instant(DateOnly day, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    private static LogbookRow IssueRow(ChainIssue issue, GapExplanation? explanation, IReadOnlyDictionary<Guid, string> names)
    {
        var note = explanation is null
            ? (issue.Kind == ChainIssueKind.Gap ? "nicht erklärt / not explained" : "zur Prüfung / under review")
            : $"{explanation.Note} ({names.GetValueOrDefault(explanation.ExplainedBy)}, {explanation.ExplainedAt:yyyy-MM-dd})";
        return new LogbookRow(issue.Kind.ToString().ToLowerInvariant(), null, issue.After.Id, issue.Before?.EndedAt, issue.After.StartedAt, issue.FromOdometer, issue.ToOdometer, issue.Km,
            null, null, null, null, null, null, null, null, null, false, null, null, false, null, null, null, [], [], null, note);
    }
}
