using Fahrtenbuch.Server.Trips;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>How a trip counts for tax purposes, which can differ from the category the driver chose.</summary>
public enum TaxCategory
{
    Business,
    Private,
    Commute,
}

/// <summary>
/// A country's logbook rules: how the trip categories count for tax, and which fields a trip of each category
/// needs on top of date, times, odometer and driver (which every trip has).
/// </summary>
public sealed record CountryProfile(string Country, string Name, IReadOnlyDictionary<TripCategory, string[]> RequiredFields, bool CommuteIsPrivate)
{
    /// <summary>Germany (R 8.1 Abs. 9 LStR): business trips name destination, purpose and business partner; commute is its own category.</summary>
    public static readonly CountryProfile Germany = new("DE", "Deutschland", new Dictionary<TripCategory, string[]>
    {
        [TripCategory.Business] = ["destination", "purpose", "businessPartner"],
        [TripCategory.Private] = [],
        [TripCategory.Commute] = [],
    }, CommuteIsPrivate: false);

    /// <summary>Austria (Sachbezugswerteverordnung): start and end point and purpose; the commute counts as private use.</summary>
    public static readonly CountryProfile Austria = new("AT", "Österreich", new Dictionary<TripCategory, string[]>
    {
        [TripCategory.Business] = ["startPlace", "destination", "purpose"],
        [TripCategory.Private] = [],
        [TripCategory.Commute] = [],
    }, CommuteIsPrivate: true);

    /// <summary>Switzerland: destination and purpose of business trips; the commute counts as private use.</summary>
    public static readonly CountryProfile Switzerland = new("CH", "Schweiz", new Dictionary<TripCategory, string[]>
    {
        [TripCategory.Business] = ["destination", "purpose"],
        [TripCategory.Private] = [],
        [TripCategory.Commute] = [],
    }, CommuteIsPrivate: true);

    public static CountryProfile For(string country) => country.ToUpperInvariant() switch
    {
        "AT" => Austria,
        "CH" => Switzerland,
        _ => Germany,
    };

    public TaxCategory? TaxCategoryOf(TripCategory? category) => category switch
    {
        TripCategory.Business => TaxCategory.Business,
        TripCategory.Private => TaxCategory.Private,
        TripCategory.Commute => CommuteIsPrivate ? TaxCategory.Private : TaxCategory.Commute,
        _ => null,
    };

    /// <summary>The required fields a completed trip lacks under this profile.</summary>
    public IReadOnlyList<string> Missing(Trip trip)
    {
        if (trip.State != TripState.Completed || trip.Category is not { } category)
        {
            return [];
        }

        return RequiredFields[category].Where(field => string.IsNullOrWhiteSpace(field switch
        {
            "destination" => trip.Destination,
            "purpose" => trip.Purpose,
            "businessPartner" => trip.BusinessPartner,
            "startPlace" => trip.StartPlace,
            "endPlace" => trip.EndPlace,
            _ => "",
        })).ToList();
    }
}
