using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Logbook;

namespace Fahrtenbuch.Server.Trips;

public sealed record RevisionResponse(int Number, Guid ChangedBy, string? ChangedByName, DateTimeOffset ChangedAt, string Reason, IReadOnlyList<FieldChange> Changes);

/// <summary>
/// A trip as the API shows it. With <see cref="Restricted"/> set the caller may see only when and how
/// far (someone else's private trip, or another driver's trip): places, purpose, partner, reasons and
/// revisions are left out.
/// </summary>
public sealed record TripResponse(
    Guid Id,
    Guid VehicleId,
    Guid DriverId,
    string? DriverName,
    TripState State,
    DateTimeOffset StartedAt,
    int StartOdometer,
    DateTimeOffset? EndedAt,
    int? EndOdometer,
    int? DistanceKm,
    TripCategory? Category,
    string? StartPlace,
    string? EndPlace,
    string? Destination,
    string? Purpose,
    string? BusinessPartner,
    DateTimeOffset RecordedAt,
    DateTimeOffset? CompletedRecordedAt,
    bool EnteredLate,
    int? GapBeforeKm,
    string? CancelReason,
    string? VoidReason,
    Guid? ClosedBy,
    DateTimeOffset? ClosedAt,
    ReviewState Review,
    IReadOnlyList<string> ReviewReasons,
    IReadOnlyList<RevisionResponse> Revisions,
    bool Restricted,
    DateTimeOffset? LockedAt = null,
    IReadOnlyList<AnnotationResponse>? Annotations = null);

public sealed record PagedList<T>(IReadOnlyList<T> Items, int Page, int PageSize, int Total);

public static class TripViews
{
    /// <summary>Owner sees all; managers and auditors see all of non-private trips; everyone else only the kilometres.</summary>
    public static EventAudience AudienceOf(Trip trip) => trip.IsPrivate ? EventAudience.Owner : EventAudience.Managers;

    public static bool SeesDetails(this CurrentUser me, Trip trip) =>
        EventVisibility.SeesFull(AudienceOf(trip), trip.DriverId, me.Id, me.SeesWholeCompany);

    public static TripResponse ToResponse(Trip t, IReadOnlyDictionary<Guid, string> names, bool restricted) => new(
        t.Id,
        t.VehicleId,
        t.DriverId,
        names.GetValueOrDefault(t.DriverId),
        t.State,
        t.StartedAt,
        t.StartOdometer,
        t.EndedAt,
        t.EndOdometer,
        t.DistanceKm,
        t.Category,
        restricted ? null : t.StartPlace,
        restricted ? null : t.EndPlace,
        restricted ? null : t.Destination,
        restricted ? null : t.Purpose,
        restricted ? null : t.BusinessPartner,
        t.RecordedAt,
        t.CompletedRecordedAt,
        t.EnteredLate,
        t.GapBeforeKm,
        restricted ? null : t.CancelReason,
        restricted ? null : t.VoidReason,
        t.ClosedBy,
        t.ClosedAt,
        t.Review,
        t.ReviewReasons,
        restricted ? [] : t.Revisions.OrderBy(r => r.Number)
            .Select(r => new RevisionResponse(r.Number, r.ChangedBy, names.GetValueOrDefault(r.ChangedBy), r.ChangedAt, r.Reason, r.Changes)).ToList(),
        restricted,
        t.LockedAt,
        restricted ? [] : t.Annotations.OrderBy(a => a.Number).Select(a => AnnotationResponse.From(a, names)).ToList());

    /// <summary>The people a trip's response names: its driver and the authors of its revisions and annotations.</summary>
    public static IEnumerable<Guid> PeopleOf(Trip t) =>
        t.Revisions.Select(r => r.ChangedBy).Concat(t.Annotations.Select(a => a.CreatedBy)).Prepend(t.DriverId);

    /// <summary>
    /// The display names of those of <paramref name="ids"/> who are users of the company. A trip write names two or three
    /// people; reading every user of the company instead grew the write's time under the write lock with the company.
    /// </summary>
    public static async Task<Dictionary<Guid, string>> UserNamesAsync(this AppDbContext db, IEnumerable<Guid> ids, CancellationToken cancellationToken)
    {
        var distinct = ids.Distinct().ToList();
        var names = new Dictionary<Guid, string>(distinct.Count);
        if (distinct.Count == 0)
        {
            return names;
        }

        if (distinct.Count > MaxNamedPeople)
        {
            return await db.UserNamesAsync(cancellationToken);
        }

        var query = await PlainQuery.CreateAsync(db, NamesOfStatements[distinct.Count], cancellationToken);
        await using (query)
        {
            query.Id("@company", db.CompanyId);
            for (var i = 0; i < distinct.Count; i++)
            {
                query.Id(UserParameters[i], distinct[i]);
            }

            await using var reader = await query.ReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                names.Add(reader.GetGuid(0), reader.GetString(1));
            }
        }

        return names;
    }

    // One statement text per number of people (a write names a handful; a larger set reads the whole company instead).
    private const int MaxNamedPeople = 32;
    private static readonly string[] UserParameters = [.. Enumerable.Range(0, MaxNamedPeople).Select(i => $"@u{i}")];
    private static readonly string[] NamesOfStatements = [.. Enumerable.Range(0, MaxNamedPeople + 1).Select(count =>
        $"SELECT \"Id\", \"DisplayName\" FROM \"Users\" WHERE \"CompanyId\" = @company AND \"Id\" IN ({string.Join(", ", UserParameters.Take(count))})")];

    /// <summary>The display names of all the company's users (two columns, not whole user rows), for reads that show many trips.</summary>
    public static async Task<Dictionary<Guid, string>> UserNamesAsync(this AppDbContext db, CancellationToken cancellationToken)
    {
        var names = new Dictionary<Guid, string>();
        await using var query = (await PlainQuery.CreateAsync(db, "SELECT \"Id\", \"DisplayName\" FROM \"Users\" WHERE \"CompanyId\" = @company", cancellationToken))
            .Id("@company", db.CompanyId);
        await using var reader = await query.ReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            names.Add(reader.GetGuid(0), reader.GetString(1));
        }

        return names;
    }

    /// <summary>Appends a trip event in both forms, so each subscriber gets exactly what the REST read would show them.</summary>
    public static void AppendTrip(this LogTransaction write, string type, Trip trip, IReadOnlyDictionary<Guid, string> names) =>
        write.Append(
            type,
            ToResponse(trip, names, restricted: false),
            vehicleId: trip.VehicleId,
            tripId: trip.Id,
            ownerId: trip.DriverId,
            restrictedData: ToResponse(trip, names, restricted: true),
            audience: AudienceOf(trip));
}
