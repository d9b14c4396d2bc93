using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Logbook;

public sealed record MonthFigures(int Month, int BusinessKm, int PrivateKm, int CommuteKm, bool OverAustrianLimit);

/// <summary>Computed figures for a vehicle and year under the company's country profile. Not tax advice.</summary>
public sealed record TaxReport(
    Guid VehicleId, int Year, string Country, int TotalKm, int BusinessKm, int PrivateKm, int CommuteKm, decimal PrivateShare,
    IReadOnlyList<MonthFigures> Months, GermanFlatRate? Germany, AustrianHalfBenefit? Austria, string Notice);

/// <summary>DE: the 1 % rule (list price rounded down to full 100 €, 1 % per month) plus 0.03 % × km × month for the commute.</summary>
public sealed record GermanFlatRate(decimal ListPrice, decimal RoundedListPrice, int Months, decimal PrivateUsePerYear, decimal CommuteDistanceKm, decimal CommutePerYear, decimal FlatRateTotal, decimal LogbookPrivateAndCommuteShare);

/// <summary>AT: the half Sachbezug applies when private km (commute included) stay within 500 km a month on average (6,000 a year).</summary>
public sealed record AustrianHalfBenefit(int LimitPerMonth, int MonthsOverLimit, decimal AveragePrivateKmPerMonth, bool HalfBenefitApplies);

public static class TaxReportEndpoints
{
    public static RouteHandlerBuilder MapTaxReport(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/reports/tax", Report).WithTags("Logbook").RequireAuthorization();

    public static async Task<Ok<TaxReport>> Report(
        CurrentUser me, AppDbContext db, IOptions<LogbookOptions> options, Guid vehicleId, int year, CancellationToken cancellationToken, decimal? listPrice = null, decimal? commuteDistanceKm = null)
    {
        if (year is < 2000 or > 9999 || listPrice is < 0 or > 10_000_000 || commuteDistanceKm is < 0 or > 1000)
        {
            throw DomainException.Invalid("report.parameters-invalid", "year must be 2000–9999, listPrice 0–10,000,000 and commuteDistanceKm 0–1000.");
        }

        var vehicle = await db.Vehicles.AsNoTracking().SingleOrDefaultAsync(v => v.Id == vehicleId, cancellationToken) ?? throw DomainException.NotFound("vehicle");
        if (!me.SeesWholeCompany && vehicle.AssignedDriverId != me.Id)
        {
            throw DomainException.Forbidden("report.forbidden", "Tax figures are for fleet managers, auditors and the driver the vehicle is assigned to.");
        }

        var country = await db.Companies.Where(c => c.Id == db.CompanyId).Select(c => c.Country).SingleAsync(cancellationToken);
        var profile = CountryProfile.For(country);
        var zone = options.Value.Zone;
        var (from, _) = Periods.Bounds(year, 1, zone);
        var (_, to) = Periods.Bounds(year, 12, zone);
        var trips = await db.Trips.AsNoTracking().IgnoreAutoIncludes()
            .Where(t => t.VehicleId == vehicleId && t.State == TripState.Completed && t.StartedAt >= from && t.StartedAt < to).ToListAsync(cancellationToken);
        int Km(IEnumerable<Trip> set, TaxCategory category) => set.Where(t => profile.TaxCategoryOf(t.Category) == category).Sum(t => t.DistanceKm ?? 0);
        var months = Enumerable.Range(1, 12).Select(m =>
        {
            var inMonth = trips.Where(t => TimeZoneInfo.ConvertTime(t.StartedAt, zone).Month == m).ToList();
            var privateKm = Km(inMonth, TaxCategory.Private);
            return new MonthFigures(m, Km(inMonth, TaxCategory.Business), privateKm, Km(inMonth, TaxCategory.Commute), profile.Country == "AT" && privateKm > 500);
        }).ToList();
        var total = trips.Sum(t => t.DistanceKm ?? 0);
        var business = Km(trips, TaxCategory.Business);
        var privateKmYear = Km(trips, TaxCategory.Private);
        var commute = Km(trips, TaxCategory.Commute);
        var share = total == 0 ? 0 : Math.Round((decimal)privateKmYear / total, 4);

        GermanFlatRate? germany = null;
        if (profile.Country == "DE" && listPrice is { } price)
        {
            var rounded = Math.Floor(price / 100) * 100;
            var usedMonths = months.Count(m => m.BusinessKm + m.PrivateKm + m.CommuteKm > 0);
            var commuteTrips = trips.Where(t => t.Category == TripCategory.Commute).Select(t => (decimal)(t.DistanceKm ?? 0)).Order().ToList();
            var distance = commuteDistanceKm ?? (commuteTrips.Count == 0 ? 0 : commuteTrips[commuteTrips.Count / 2]);
            var monthsWithCommute = months.Count(m => m.CommuteKm > 0);
            var privateUse = rounded * 0.01m * usedMonths;
            var commuteUse = Math.Round(rounded * 0.0003m * distance * monthsWithCommute, 2);
            germany = new GermanFlatRate(price, rounded, usedMonths, privateUse, distance, commuteUse, privateUse + commuteUse,
                total == 0 ? 0 : Math.Round((decimal)(privateKmYear + commute) / total, 4));
        }

        AustrianHalfBenefit? austria = profile.Country == "AT"
            ? new AustrianHalfBenefit(500, months.Count(m => m.OverAustrianLimit), Math.Round(privateKmYear / 12m, 1), privateKmYear <= 6000)
            : null;
        return TypedResults.Ok(new TaxReport(vehicleId, year, profile.Country, total, business, privateKmYear, commute, share, months, germany, austria,
            "Berechnete Kennzahlen, keine Steuerberatung / computed figures, not tax advice."));
    }
}
