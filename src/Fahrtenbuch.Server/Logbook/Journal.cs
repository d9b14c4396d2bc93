using System.Buffers;
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
/// <remarks>
/// Every stored entry's hash was taken over this text, so it must never change by one character
/// (<c>JournalFormatTests</c> holds it). Entries are written under the write lock: each thread reuses one buffer and one
/// writer, and the hash is taken over the UTF-8 the writer produced instead of over the text encoded again.
/// </remarks>
public static class JournalFormat
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    public static string Hash(string canonical) => Hash(Encoding.UTF8.GetBytes(canonical));

    private static string Hash(ReadOnlySpan<byte> utf8)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8, digest);
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>UTC with 7 fractional digits and a <c>Z</c>: the round-trip format of a UTC time.</summary>
    public static string Time(DateTimeOffset? at) => at is { } value ? value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "";

    /// <summary>The entry's canonical text and its hash.</summary>
    public static (string Canonical, string Hash) Entry(Guid vehicleId, long sequence, string previousHash, string action, Guid tripId, Guid? actorId, DateTimeOffset at, long position,
        Trip trip, IReadOnlyDictionary<string, string?>? oldValues, string? note)
    {
        var json = Writer(out var buffer);
        json.WriteStartObject();
        json.WriteNumber("v"u8, 1);
        json.WriteString("vehicleId"u8, vehicleId);
        json.WriteNumber("seq"u8, sequence);
        json.WriteString("prev"u8, previousHash);
        json.WriteString("action"u8, action);
        json.WriteString("tripId"u8, tripId);
        WriteNullable(json, "actor"u8, actorId);

        WriteTime(json, "at"u8, at);
        json.WriteNumber("logPosition"u8, position);
        json.WritePropertyName("trip"u8);
        WriteSnapshot(json, trip);
        if (oldValues is null)
        {
            json.WriteNull("old"u8);
        }
        else
        {
            json.WriteStartObject("old"u8);
            foreach (var (field, value) in oldValues)
            {
                if (value is null)
                {
                    json.WriteNull(field);
                }
                else
                {
                    json.WriteString(field, value);
                }
            }

            json.WriteEndObject();
        }

        WriteNullable(json, "note"u8, note);
        json.WriteEndObject();
        json.Flush();
        return (Encoding.UTF8.GetString(buffer.WrittenSpan), Hash(buffer.WrittenSpan));
    }

    /// <summary>The trip's logbook fields as they stand; the verifier compares the stored trip row against the last entry's copy.</summary>
    public static string Snapshot(Trip trip)
    {
        var json = Writer(out var buffer);
        WriteSnapshot(json, trip);
        json.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static Utf8JsonWriter Writer(out ArrayBufferWriter<byte> buffer)
    {
        buffer = t_buffer ??= new ArrayBufferWriter<byte>(2048);
        buffer.ResetWrittenCount();
        var json = t_json ??= new Utf8JsonWriter(buffer);
        json.Reset(buffer);
        return json;
    }

    private static void WriteSnapshot(Utf8JsonWriter json, Trip t)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, t.Id);
        json.WriteString("driverId"u8, t.DriverId);
        json.WriteString("state"u8, t.State.ToString());
        WriteNullable(json, "category"u8, t.Category?.ToString());
        WriteTime(json, "startedAt"u8, t.StartedAt);
        WriteTime(json, "endedAt"u8, t.EndedAt);
        json.WriteNumber("startOdometer"u8, t.StartOdometer);
        if (t.EndOdometer is { } end)
        {
            json.WriteNumber("endOdometer"u8, end);
        }
        else
        {
            json.WriteNull("endOdometer"u8);
        }

        WriteNullable(json, "startPlace"u8, t.StartPlace);
        WriteNullable(json, "endPlace"u8, t.EndPlace);
        WriteNullable(json, "destination"u8, t.Destination);
        WriteNullable(json, "purpose"u8, t.Purpose);
        WriteNullable(json, "businessPartner"u8, t.BusinessPartner);
        json.WriteBoolean("enteredLate"u8, t.EnteredLate);
        WriteTime(json, "recordedAt"u8, t.RecordedAt);
        WriteTime(json, "completedRecordedAt"u8, t.CompletedRecordedAt);
        WriteNullable(json, "cancelReason"u8, t.CancelReason);
        WriteNullable(json, "voidReason"u8, t.VoidReason);
        WriteNullable(json, "closedBy"u8, t.ClosedBy);

        WriteTime(json, "lockedAt"u8, t.LockedAt);
        json.WriteNumber("revisions"u8, t.Revisions.Count);
        json.WriteNumber("annotations"u8, t.Annotations.Count);
        json.WriteEndObject();
    }

    /// <summary>A time as <see cref="Time"/> writes it, or null.</summary>
    private static void WriteTime(Utf8JsonWriter json, ReadOnlySpan<byte> name, DateTimeOffset? at)
    {
        if (at is not { } value)
        {
            json.WriteNull(name);
            return;
        }

        Span<byte> text = stackalloc byte[64];
        value.UtcDateTime.TryFormat(text, out var written, "O", CultureInfo.InvariantCulture);
        json.WriteString(name, text[..written]);
    }

    private static void WriteNullable(Utf8JsonWriter json, ReadOnlySpan<byte> name, Guid? value)
    {
        if (value is { } id)
        {
            json.WriteString(name, id);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteNullable(Utf8JsonWriter json, ReadOnlySpan<byte> name, string? value)
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
public sealed class JournalHook(AppDbContext db, CompanyScope scope, IHttpContextAccessor http, IOptions<LogbookOptions> options, JournalStateCache cache) : ILogAppendHook
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

        // The request's caller as the company scope read it (parsing the claims again took about 3 % of the lock's CPU), or
        // as the request's principal says (a live hub command sets only the company).
        var actor = scope.Caller ?? (http.HttpContext is { } context ? CurrentUser.From(context.User) : null);
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
            var (canonical, hash) = JournalFormat.Entry(vehicleId, sequence, head.Hash, e.Type, trip.Id, actor?.Id, write.Now, e.Position, trip, oldValues, note);
            var entry = new JournalEntry(write.CompanyId, vehicleId, sequence, trip.Id, e.Type, actor?.Id, write.Now, head.Hash, canonical, hash);
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
