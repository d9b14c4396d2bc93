using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Trips;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>The event types the logbook adds to the log.</summary>
public static class LogbookEvents
{
    public const string TripLocked = "trip.locked";
    public const string TripAnnotated = "trip.annotated";
    public const string TripReminder = "trip.reminder";
    public const string GapExplained = "gap.explained";
    public const string PeriodClosed = "period.closed";

    /// <summary>
    /// Which events become journal entries: every trip event that changes what the logbook says (including
    /// ones other features add later), plus gap explanations. Review flags and reminders change no entry.
    /// </summary>
    public static bool IsJournaled(EventRecord e) =>
        e.TripId is not null && e.VehicleId is not null
        && ((e.Type.StartsWith("trip.", StringComparison.Ordinal) && e.Type is not EventTypes.TripNeedsReview and not TripReminder)
            || e.Type == GapExplained);
}

/// <summary>
/// The canonical text of journal entries: compact JSON with a fixed property order, invariant number
/// and time formats (UTC, 7 fractional digits), written by hand so no serializer setting can change it.
/// </summary>
public static class JournalFormat
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    public static string Hash(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    public static string Time(DateTimeOffset? at) =>
        at?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture) ?? "";

    public static string Entry(Guid vehicleId, long sequence, string previousHash, string action, Guid tripId, Guid? actorId, DateTimeOffset at, long position,
        Trip trip, IReadOnlyDictionary<string, string?>? oldValues, string? note)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("v", 1);
            json.WriteString("vehicleId", vehicleId);
            json.WriteNumber("seq", sequence);
            json.WriteString("prev", previousHash);
            json.WriteString("action", action);
            json.WriteString("tripId", tripId);
            WriteNullable(json, "actor", actorId?.ToString());
            json.WriteString("at", Time(at));
            json.WriteNumber("logPosition", position);
            json.WritePropertyName("trip");
            WriteSnapshot(json, trip);
            if (oldValues is null)
            {
                json.WriteNull("old");
            }
            else
            {
                json.WriteStartObject("old");
                foreach (var (field, value) in oldValues)
                {
                    WriteNullable(json, field, value);
                }

                json.WriteEndObject();
            }

            WriteNullable(json, "note", note);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The trip's logbook fields as they stand; the verifier compares the stored trip row against the last entry's copy.</summary>
    public static string Snapshot(Trip trip)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteSnapshot(json, trip);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteSnapshot(Utf8JsonWriter json, Trip t)
    {
        json.WriteStartObject();
        json.WriteString("id", t.Id);
        json.WriteString("driverId", t.DriverId);
        json.WriteString("state", t.State.ToString());
        WriteNullable(json, "category", t.Category?.ToString());
        json.WriteString("startedAt", Time(t.StartedAt));
        WriteNullable(json, "endedAt", t.EndedAt is null ? null : Time(t.EndedAt));
        json.WriteNumber("startOdometer", t.StartOdometer);
        if (t.EndOdometer is { } end)
        {
            json.WriteNumber("endOdometer", end);
        }
        else
        {
            json.WriteNull("endOdometer");
        }

        WriteNullable(json, "startPlace", t.StartPlace);
        WriteNullable(json, "endPlace", t.EndPlace);
        WriteNullable(json, "destination", t.Destination);
        WriteNullable(json, "purpose", t.Purpose);
        WriteNullable(json, "businessPartner", t.BusinessPartner);
        json.WriteBoolean("enteredLate", t.EnteredLate);
        json.WriteString("recordedAt", Time(t.RecordedAt));
        WriteNullable(json, "completedRecordedAt", t.CompletedRecordedAt is null ? null : Time(t.CompletedRecordedAt));
        WriteNullable(json, "cancelReason", t.CancelReason);
        WriteNullable(json, "voidReason", t.VoidReason);
        WriteNullable(json, "closedBy", t.ClosedBy?.ToString());
        WriteNullable(json, "lockedAt", t.LockedAt is null ? null : Time(t.LockedAt));
        json.WriteNumber("revisions", t.Revisions.Count);
        json.WriteNumber("annotations", t.Annotations.Count);
        json.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}

/// <summary>
/// Turns the logbook-relevant events of every logged write into journal entries, in the same transaction,
/// and refuses writes the logbook forbids (a closed period, a driver after the completion window).
/// </summary>
public sealed class JournalHook(AppDbContext db, IHttpContextAccessor http, IOptions<LogbookOptions> options, JournalStateCache cache) : ILogAppendHook
{
    // Read under the write lock when this process does not know the company's current state; compiled once (see TripCommands).
    private static readonly Func<AppDbContext, IAsyncEnumerable<string>> ClosedMonths =
        EF.CompileAsyncQuery((AppDbContext db) => db.ClosedPeriods.Select(p => p.Month));

    private static readonly Func<AppDbContext, Guid, CancellationToken, Task<JournalHead?>> HeadOf =
        EF.CompileAsyncQuery((AppDbContext db, Guid vehicleId, CancellationToken _) =>
            db.JournalEntries.Where(j => j.VehicleId == vehicleId).OrderByDescending(j => j.Sequence)
                .Select(j => new JournalHead(j.Sequence, j.Hash)).FirstOrDefault());

    public async Task BeforeCommitAsync(LogTransaction write, CancellationToken cancellationToken)
    {
        // What this process remembered at the log head this write started from, if anything (see JournalStateCache), or
        // what a write before this one in the same transaction left (not in the cache before the transaction commits).
        var known = cache.At(write.CompanyId, write.StartHead)
            ?? (write.Carried<JournalState>() is { } carried && carried.LogHead == write.StartHead ? carried : null);
        var relevant = write.Events.Where(LogbookEvents.IsJournaled).ToList();
        if (relevant.Count == 0)
        {
            if (known is not null && write.Head != write.StartHead)
            {
                Remember(write, known.ClosedMonths, known.Heads);
            }

            return;
        }

        var actor = http.HttpContext is { } context ? CurrentUser.From(context.User) : null;
        var closed = known?.ClosedMonths ?? await LoadClosedMonthsAsync(cancellationToken);
        var heads = known?.Heads ?? ImmutableDictionary<Guid, JournalHead>.Empty;
        var entries = new List<JournalEntry>(relevant.Count);
        foreach (var e in relevant)
        {
            var trip = TrackedWithRevisions(e)
                ?? await db.Trips.Include(t => t.Revisions).SingleAsync(t => t.Id == e.TripId, cancellationToken);
            Enforce(e, trip, actor, closed, write.Now);
            var vehicleId = e.VehicleId!.Value;
            if (!heads.TryGetValue(vehicleId, out var head))
            {
                head = await HeadOf(db, vehicleId, cancellationToken) ?? new JournalHead(0, JournalFormat.Genesis);
            }

            var oldValues = e.Type == EventTypes.TripCorrected && trip.Revisions.MaxBy(r => r.Number) is { } revision
                ? revision.Changes.ToDictionary(c => c.Field, c => c.OldValue)
                : null;
            var note = NoteOf(e) ?? (e.Type == EventTypes.TripCorrected ? trip.Revisions.MaxBy(r => r.Number)?.Reason : null);
            var sequence = head.Sequence + 1;
            var canonical = JournalFormat.Entry(vehicleId, sequence, head.Hash, e.Type, trip.Id, actor?.Id, write.Now, e.Position, trip, oldValues, note);
            var entry = new JournalEntry(write.CompanyId, vehicleId, sequence, trip.Id, e.Type, actor?.Id, write.Now, head.Hash, canonical, JournalFormat.Hash(canonical));
            entries.Add(entry);
            heads = heads.SetItem(vehicleId, new JournalHead(sequence, entry.Hash));
        }

        await AppendOnlyRows.InsertAsync(db, entries, cancellationToken);

        Remember(write, closed, heads);
    }

    /// <summary>What the company's closed periods and chain heads will be once this write commits; a closed period is read again.</summary>
    private void Remember(LogTransaction write, IReadOnlySet<string>? closedMonths, ImmutableDictionary<Guid, JournalHead> heads)
    {
        var state = new JournalState(write.Head, write.Events.Any(e => e.Type == LogbookEvents.PeriodClosed) ? null : closedMonths, heads);
        var companyId = write.CompanyId;
        write.Carry(state);
        write.OnCommitted(() => cache.Store(companyId, state));
    }

    private async Task<IReadOnlySet<string>> LoadClosedMonthsAsync(CancellationToken cancellationToken)
    {
        var closed = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var month in ClosedMonths(db).WithCancellation(cancellationToken))
        {
            closed.Add(month);
        }

        return closed;
    }

    /// <summary>
    /// The trip as the command left it, when its revisions are known: loaded with it, or none because the trip was created
    /// in this very write. Saves reading it again.
    /// </summary>
    private Trip? TrackedWithRevisions(EventRecord e)
    {
        var entry = db.TrackedEntries<Trip>().FirstOrDefault(t => t.Entity.Id == e.TripId);
        var created = e.Type is EventTypes.TripStarted or EventTypes.TripRecorded;

        // By name: the lambda overload builds and parses an expression tree on every call, under the write lock.
        return entry is not null && (created || entry.Collection(nameof(Trip.Revisions)).IsLoaded) ? entry.Entity : null;
    }

    private void Enforce(EventRecord e, Trip trip, CurrentUser? actor, IReadOnlySet<string> closedMonths, DateTimeOffset now)
    {
        if (e.Type is LogbookEvents.TripLocked or LogbookEvents.TripAnnotated or LogbookEvents.GapExplained)
        {
            return;
        }

        if (trip.IsLocked)
        {
            throw DomainException.Conflict("trip.locked", "The trip's period is closed; it can no longer be changed. Add an annotation (Nachtrag) instead.");
        }

        var month = Periods.MonthOf(trip.StartedAt, options.Value.Zone);
        if (closedMonths.Contains(month))
        {
            throw DomainException.Conflict("period.closed", $"The period {month} is closed; a trip in it can no longer be added or changed. Add an annotation (Nachtrag) to a trip instead.");
        }

        if (actor is { Role: UserRole.Driver } && e.Type is EventTypes.TripCorrected or EventTypes.TripVoided
            && (trip.CompletedRecordedAt ?? trip.RecordedAt) + options.Value.CompletionWindow < now)
        {
            throw DomainException.Conflict(
                "trip.completion-window-closed",
                $"The trip's details were recorded more than {options.Value.CompletionWindow.TotalDays:0.#} days ago; only a fleet manager can change them now (the change is recorded as a revision).");
        }
    }

    private static string? NoteOf(EventRecord e)
    {
        // Most journaled events (trip starts and completions) have no note: this process wrote their JSON, so a property
        // named "note" is spelled out when there is one, and the parse is saved on every other trip write.
        if (!e.Data.Contains("\"note\"", StringComparison.Ordinal))
        {
            return null;
        }

        using var data = JsonDocument.Parse(e.Data);
        return data.RootElement.ValueKind == JsonValueKind.Object && data.RootElement.TryGetProperty("note", out var note) && note.ValueKind == JsonValueKind.String
            ? note.GetString()
            : null;
    }
}

internal sealed record JournalHead(long Sequence, string Hash);

/// <summary>A company's closed months (null: not known) and the vehicles' chain heads known so far, as of log position <see cref="LogHead"/>.</summary>
internal sealed record JournalState(long LogHead, IReadOnlySet<string>? ClosedMonths, ImmutableDictionary<Guid, JournalHead> Heads);

/// <summary>
/// The closed months and journal chain heads of each company as of the log head its last write in this process committed,
/// so a write need not read them under the lock again. A remembered state is used only when the head the next write locks is
/// the same: closing a period and journaling are logged writes, and every logged write advances the head in the same
/// transaction, so an equal head means nothing changed them since, whichever instance wrote in between (ADR 0001, 0005).
/// </summary>
public sealed class JournalStateCache
{
    private readonly ConcurrentDictionary<Guid, JournalState> _companies = new();

    internal JournalState? At(Guid companyId, long logHead) =>
        _companies.TryGetValue(companyId, out var state) && state.LogHead == logHead ? state : null;

    // Last committer wins: an older state stored late only makes the next write read the database again.
    internal void Store(Guid companyId, JournalState state) => _companies[companyId] = state;
}

public static class Periods
{
    public static string MonthOf(DateTimeOffset at, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(at, zone).ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>The UTC instants that bound a calendar month in the given zone.</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Bounds(int year, int month, TimeZoneInfo zone)
    {
        var start = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Unspecified);
        var end = start.AddMonths(1);
        return (new DateTimeOffset(start, zone.GetUtcOffset(start)).ToUniversalTime(), new DateTimeOffset(end, zone.GetUtcOffset(end)).ToUniversalTime());
    }

    public static bool TryParse(string text, out int year, out int month)
    {
        year = month = 0;
        return text.Length == 7 && text[4] == '-'
            && int.TryParse(text.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out year)
            && int.TryParse(text.AsSpan(5, 2), NumberStyles.None, CultureInfo.InvariantCulture, out month)
            && year is >= 2000 and <= 9999 && month is >= 1 and <= 12;
    }
}

public sealed record JournalVerification(
    Guid VehicleId, bool Valid, int Entries, long? FirstBrokenSequence, string? Reason, string? Fingerprint, long HeadSequence, DateTimeOffset VerifiedAt);

/// <summary>
/// Recomputes a vehicle's journal: every hash, every link, and every trip row against its last entry.
/// Reusable outside HTTP (the CLI builds an <see cref="AppDbContext"/> scoped to the company and calls it).
/// </summary>
public sealed class JournalVerifier(AppDbContext db, TimeProvider time)
{
    public async Task<JournalVerification> VerifyAsync(Guid vehicleId, CancellationToken cancellationToken)
    {
        var entries = await db.JournalEntries.AsNoTracking().Where(j => j.VehicleId == vehicleId).OrderBy(j => j.Sequence).ToListAsync(cancellationToken);
        var trips = await db.Trips.AsNoTracking().IgnoreAutoIncludes().Include(t => t.Revisions).Include(t => t.Annotations)
            .Where(t => t.VehicleId == vehicleId).ToListAsync(cancellationToken);
        var problems = new List<(long Sequence, string Reason)>();
        var expectedPrevious = JournalFormat.Genesis;
        var lastByTrip = new Dictionary<Guid, (long Sequence, string Snapshot)>();
        long expectedSequence = 1;
        foreach (var entry in entries)
        {
            if (entry.Sequence != expectedSequence)
            {
                problems.Add((expectedSequence, $"entry {expectedSequence} is missing"));
                break;
            }

            if (JournalFormat.Hash(entry.Canonical) != entry.Hash)
            {
                problems.Add((entry.Sequence, $"entry {entry.Sequence} does not match its hash: it was changed after it was written"));
                break;
            }

            using var canonical = JsonDocument.Parse(entry.Canonical);
            var root = canonical.RootElement;
            if (root.GetProperty("prev").GetString() != expectedPrevious || entry.PreviousHash != expectedPrevious)
            {
                problems.Add((entry.Sequence, $"entry {entry.Sequence} does not link to entry {entry.Sequence - 1}"));
                break;
            }

            if (root.GetProperty("seq").GetInt64() != entry.Sequence || root.GetProperty("vehicleId").GetGuid() != vehicleId
                || root.GetProperty("tripId").GetGuid() != entry.TripId || root.GetProperty("action").GetString() != entry.Action)
            {
                problems.Add((entry.Sequence, $"entry {entry.Sequence}'s columns differ from its hashed content"));
                break;
            }

            lastByTrip[entry.TripId!.Value] = (entry.Sequence, root.GetProperty("trip").GetRawText());
            expectedPrevious = entry.Hash;
            expectedSequence++;
        }

        if (problems.Count == 0)
        {
            foreach (var trip in trips)
            {
                if (!lastByTrip.TryGetValue(trip.Id, out var last))
                {
                    problems.Add((expectedSequence, $"trip {trip.Id} has no journal entry: it was written outside the application"));
                }
                else if (JournalFormat.Snapshot(trip) != last.Snapshot)
                {
                    problems.Add((last.Sequence, $"trip {trip.Id} differs from its journal entry {last.Sequence}: the stored trip was changed outside the application"));
                }
            }

            foreach (var missing in lastByTrip.Keys.Except(trips.Select(t => t.Id)))
            {
                problems.Add((lastByTrip[missing].Sequence, $"trip {missing} of journal entry {lastByTrip[missing].Sequence} no longer exists"));
            }
        }

        var first = problems.OrderBy(p => p.Sequence).FirstOrDefault();
        var head = entries.LastOrDefault();
        return new JournalVerification(vehicleId, problems.Count == 0, entries.Count, problems.Count == 0 ? null : first.Sequence,
            problems.Count == 0 ? null : first.Reason, head?.Hash, head?.Sequence ?? 0, time.GetUtcNow());
    }
}
