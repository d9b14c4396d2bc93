using System.CommandLine;
using System.Globalization;
using Fahrtenbuch.Cli;
using Fahrtenbuch.Client;
using Fahrtenbuch.Client.Simulation;
using Spectre.Console;

var stateDir = new Option<string?>("--state-dir") { Description = "Where the CLI keeps server, tokens and the outbox (default: $FAHRTENBUCH_HOME or ~/.fahrtenbuch)", Recursive = true };
var serverOverride = new Option<string?>("--server") { Description = "Server URL (login stores it; on other commands it overrides the stored one)", Recursive = true };

var root = new RootCommand("Fahrtenbuch – electronic vehicle logbook from the command line. Works offline: writes are queued and sent by 'sync'.");
root.Options.Add(stateDir);
root.Options.Add(serverOverride);

// login
var email = new Option<string>("--email") { Description = "E-mail address", Required = true };
var password = new Option<string?>("--password") { Description = "Password (asked for when left out)" };
var login = new Command("login", "Sign in and remember the server") { email, password };
login.SetAction(async (parse, ct) =>
{
    var state = State(parse);
    var server = parse.GetValue(serverOverride) ?? state.Server ?? throw new InvalidOperationException("Give --server the first time.");
    state.Server = server;
    using var client = new FahrtenbuchClient(new Uri(server), state);
    var secret = parse.GetValue(password) ?? AnsiConsole.Prompt(new TextPrompt<string>("Passwort / password:").Secret());
    await client.LoginAsync(parse.GetValue(email)!, secret, ct);
    state.Email = parse.GetValue(email);
    var me = await client.MeAsync(ct);
    state.Vehicles = await client.VehiclesAsync(ct);
    AnsiConsole.MarkupLine($"Angemeldet als / signed in as [bold]{Markup.Escape(me.DisplayName)}[/] ({me.Role}, {Markup.Escape(me.Company.Name)})");
    return 0;
});
root.Subcommands.Add(login);

// vehicles
var vehicles = new Command("vehicles", "List the vehicles with their status and odometer");
vehicles.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    {
        state.Vehicles = await client.VehiclesAsync(ct);
        var table = new Table().AddColumns("Kennzeichen / plate", "Fahrzeug / vehicle", "km", "Status", "Fahrer / driver", "Id");
        foreach (var v in state.Vehicles)
        {
            table.AddRow(Markup.Escape(v.Plate), Markup.Escape(v.Name), v.CurrentOdometer.ToString("N0", CultureInfo.InvariantCulture), v.Availability,
                Markup.Escape(v.InUse?.DriverName ?? ""), v.Id.ToString());
        }

        AnsiConsole.Write(table);
        return 0;
    }
});
root.Subcommands.Add(vehicles);

// trip start|complete|cancel|add
var trip = new Command("trip", "Record trips (queued locally, sent at once when the server is reachable)");
var vehicle = new Option<string>("--vehicle") { Description = "Vehicle id or plate", Required = true };
var odometer = new Option<int?>("--odometer") { Description = "Odometer reading in km" };
var place = new Option<string?>("--place") { Description = "Start or end place" };
var start = new Command("start", "Start a trip") { vehicle, odometer, place };
start.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    using (var outbox = new Outbox(state.OutboxPath))
    {
        var car = FindVehicle(state, parse.GetValue(vehicle)!);
        var reading = parse.GetValue(odometer) ?? LastOdometer(outbox, car);
        var id = outbox.StartTrip(car.Id, reading, parse.GetValue(place));
        AnsiConsole.MarkupLine($"Fahrt gestartet / trip started: [bold]{id}[/] ({Markup.Escape(car.Plate)}, {reading} km)");
        return await TrySendAsync(client, outbox, ct);
    }
});
var tripId = new Option<Guid?>("--trip") { Description = "Trip id (default: your active trip)" };
var endOdometer = new Option<int>("--odometer") { Description = "End odometer in km", Required = true };
var category = new Option<string>("--category") { Description = "business, private or commute", DefaultValueFactory = _ => "business" };
var destination = new Option<string?>("--destination") { Description = "Destination (business trips)" };
var purpose = new Option<string?>("--purpose") { Description = "Purpose (business trips)" };
var partner = new Option<string?>("--partner") { Description = "Business partner (business trips)" };
var complete = new Command("complete", "Complete the active trip") { tripId, endOdometer, category, destination, purpose, partner, place };
complete.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    using (var outbox = new Outbox(state.OutboxPath))
    {
        var id = parse.GetValue(tripId) ?? outbox.ActiveTrip()?.Id ?? throw new InvalidOperationException("No active trip; give --trip.");
        outbox.CompleteTrip(id, new TripCompletion(parse.GetValue(endOdometer), parse.GetValue(category)!, null,
            parse.GetValue(destination), parse.GetValue(purpose), parse.GetValue(partner), parse.GetValue(place)));
        AnsiConsole.MarkupLine($"Fahrt beendet / trip completed: [bold]{id}[/]");
        return await TrySendAsync(client, outbox, ct);
    }
});
var reason = new Option<string>("--reason") { Description = "Why", Required = true };
var cancel = new Command("cancel", "Cancel the active trip") { tripId, reason };
cancel.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    using (var outbox = new Outbox(state.OutboxPath))
    {
        var id = parse.GetValue(tripId) ?? outbox.ActiveTrip()?.Id ?? throw new InvalidOperationException("No active trip; give --trip.");
        outbox.CancelTrip(id, parse.GetValue(reason)!);
        AnsiConsole.MarkupLine($"Fahrt storniert / trip cancelled: [bold]{id}[/]");
        return await TrySendAsync(client, outbox, ct);
    }
});
var from = new Option<DateTimeOffset>("--from") { Description = "When the trip started (ISO 8601)", Required = true };
var to = new Option<DateTimeOffset>("--to") { Description = "When the trip ended (ISO 8601)", Required = true };
var startOdometer = new Option<int>("--start-odometer") { Description = "Odometer at the start", Required = true };
var add = new Command("add", "Enter a trip afterwards") { vehicle, from, to, startOdometer, endOdometer, category, destination, purpose, partner };
add.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    using (var outbox = new Outbox(state.OutboxPath))
    {
        var car = FindVehicle(state, parse.GetValue(vehicle)!);
        var id = outbox.RecordTrip(car.Id, parse.GetValue(from), parse.GetValue(startOdometer), new TripCompletion(
            parse.GetValue(endOdometer), parse.GetValue(category)!, parse.GetValue(to), parse.GetValue(destination), parse.GetValue(purpose), parse.GetValue(partner)));
        AnsiConsole.MarkupLine($"Fahrt nachgetragen / trip entered: [bold]{id}[/]");
        return await TrySendAsync(client, outbox, ct);
    }
});
trip.Subcommands.Add(start);
trip.Subcommands.Add(complete);
trip.Subcommands.Add(cancel);
trip.Subcommands.Add(add);
root.Subcommands.Add(trip);

// sync
var sync = new Command("sync", "Send the queued operations to the server");
sync.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    using (var outbox = new Outbox(state.OutboxPath))
    {
        // Smaller batches than the server allows: the progress bar moves, and no single request nears the timeout.
        outbox.BatchSize = 250;
        var waiting = outbox.Count;
        if (waiting == 0)
        {
            AnsiConsole.MarkupLine("Nichts zu senden / nothing to send.");
            return 0;
        }

        FlushReport? report = null;
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("Synchronisiere / syncing", maxValue: waiting);
            report = await outbox.FlushAsync(client, new Progress<(int Done, int Total)>(p =>
            {
                task.MaxValue = Math.Max(1, p.Total);
                task.Value = p.Done;
            }), ct);
            task.Value = task.MaxValue;
        });
        AnsiConsole.MarkupLine($"Gesendet / sent {report!.Sent}: {report.Applied} ok, {report.Conflicts} Konflikte / conflicts, {report.Rejected} abgelehnt / rejected; Position {report.Position}");
        return report.Rejected > 0 ? 3 : 0;
    }
});
root.Subcommands.Add(sync);

// watch
var watch = new Command("watch", "Follow the live event stream (reconnects and resumes by itself)");
watch.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        var live = new LiveSubscription(client) { OnError = e => AnsiConsole.MarkupLine($"[grey]getrennt / disconnected: {Markup.Escape(e.Message)}[/]") };
        await live.RunAsync(
            e =>
            {
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(e.Id ?? "-")}[/] [bold]{Markup.Escape(e.Type)}[/] {Markup.Escape(Summary(e))}");
                return ValueTask.CompletedTask;
            },
            ct);
        return 0;
    }
});
root.Subcommands.Add(watch);

// review
var review = new Command("review", "Show the review queue (fleet manager, auditor)");
review.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        var queue = await client.ReviewAsync(ct);
        var table = new Table().AddColumns("Fahrt / trip", "Fahrer / driver", "Zustand / state", "km", "Gründe / reasons");
        foreach (var item in queue.Trips)
        {
            var t = item.Trip;
            table.AddRow(t.Id.ToString(), Markup.Escape(t.DriverName ?? ""), t.State, $"{t.StartOdometer}–{t.EndOdometer}", Markup.Escape(string.Join(", ", t.ReviewReasons)));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Abgelehnte Operationen / rejected operations: {queue.RejectedOperations.Count}");
        foreach (var op in queue.RejectedOperations)
        {
            AnsiConsole.MarkupLine($"  {op.Id} {Markup.Escape(op.Type)} {Markup.Escape(op.UserName ?? "")}: {Markup.Escape(op.Problem?.Code ?? "")} {Markup.Escape(op.Problem?.Detail ?? "")}");
        }

        AnsiConsole.MarkupLine($"Kilometerstände zur Prüfung / odometer readings to review: {queue.Readings.Count}");
        foreach (var r in queue.Readings)
        {
            AnsiConsole.MarkupLine($"  {r.Id} {Markup.Escape(r.Plate ?? "")} {r.Value} km {Markup.Escape(r.RecordedByName ?? "")} ({Markup.Escape(r.Flag)}) {Markup.Escape(r.Note ?? "")}");
        }

        return 0;
    }
});
var reviewTrip = new Argument<Guid>("trip") { Description = "Trip id" };
var note = new Option<string?>("--note") { Description = "Note" };
var accept = new Command("accept", "Accept a flagged trip as it is") { reviewTrip, note };
accept.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        await client.AcceptReviewAsync(parse.GetValue(reviewTrip), parse.GetValue(note), ct);
        AnsiConsole.MarkupLine("Akzeptiert / accepted.");
        return 0;
    }
});
var voidTrip = new Command("void", "Void a flagged trip with a reason") { reviewTrip, reason };
voidTrip.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        await client.VoidReviewAsync(parse.GetValue(reviewTrip), parse.GetValue(reason)!, ct);
        AnsiConsole.MarkupLine("Storniert / voided.");
        return 0;
    }
});
var reviewReading = new Argument<Guid>("reading") { Description = "Odometer reading id" };
var acceptReading = new Command("accept-reading", "Accept a flagged odometer reading as it was recorded") { reviewReading, note };
acceptReading.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        await client.AcceptReadingAsync(parse.GetValue(reviewReading), parse.GetValue(note), ct);
        AnsiConsole.MarkupLine("Akzeptiert / accepted.");
        return 0;
    }
});
review.Subcommands.Add(accept);
review.Subcommands.Add(voidTrip);
review.Subcommands.Add(acceptReading);
root.Subcommands.Add(review);

// journal
var journal = new Command("journal", "The tamper-evident logbook journal of a vehicle");
var journalVehicle = new Argument<Guid>("vehicle") { Description = "Vehicle id" };
var verify = new Command("verify", "Recompute the hash chain; exit code 3 when a link is broken") { journalVehicle };
verify.SetAction(async (parse, ct) =>
{
    var (_, client) = Connect(parse);
    using (client)
    {
        var result = await client.VerifyJournalAsync(parse.GetValue(journalVehicle), ct);
        var valid = result.GetProperty("valid").GetBoolean();
        var entries = result.GetProperty("entries").GetInt32();
        var fingerprint = result.GetProperty("fingerprint").GetString() ?? "";
        if (valid)
        {
            AnsiConsole.MarkupLine($"[green]Intakt / intact[/]: {entries} Einträge / entries, Fingerabdruck / fingerprint {Markup.Escape(fingerprint)}");
            return 0;
        }

        var broken = result.GetProperty("firstBrokenSequence");
        var why = result.GetProperty("reason").GetString() ?? "";
        AnsiConsole.MarkupLine($"[red]Gebrochen / broken[/] at entry {(broken.ValueKind == System.Text.Json.JsonValueKind.Number ? broken.GetInt64() : 0)}: {Markup.Escape(why)}");
        return 3;
    }
});
journal.Subcommands.Add(verify);
root.Subcommands.Add(journal);

// simulate
var drivers = new Option<int>("--drivers") { Description = "Number of virtual drivers", DefaultValueFactory = _ => 3 };
var minutes = new Option<double>("--minutes") { Description = "How long to drive", DefaultValueFactory = _ => 1 };
var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => Environment.TickCount };
var simulate = new Command("simulate", "Virtual drivers doing trips with random offline periods (needs a fleet manager login)") { drivers, minutes, seed };
simulate.SetAction(async (parse, ct) =>
{
    var (state, client) = Connect(parse);
    using (client)
    {
        var simulator = new Simulator(client.Server, Path.Combine(state.Directory, "simulation"));
        await simulator.SetUpAsync(client, parse.GetValue(drivers), parse.GetValue(seed), ct);
        var duration = TimeSpan.FromMinutes(parse.GetValue(minutes));
        AnsiConsole.MarkupLine($"{simulator.Drivers.Count} Fahrer fahren / drivers driving for {duration.TotalSeconds:F0} s …");
        await simulator.RunAsync(duration, ct);
        var s = simulator.Stats;
        AnsiConsole.MarkupLine($"Fahrten / trips: {s.TripsStarted} gestartet / started, {s.TripsCompleted} beendet / completed, {s.TripsCancelled} storniert / cancelled, " +
            $"{s.TripsRecorded} nachgetragen / entered afterwards; {s.OfflinePeriods} Funklöcher / offline periods; " +
            $"{simulator.Drivers.Sum(d => d.Outbox.Count)} noch in Warteschlangen / still queued");
        return 0;
    }
});
root.Subcommands.Add(simulate);

try
{
    // Errors are reported below as one line with the problem's code, not as System.CommandLine's stack trace.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is FahrtenbuchApiException or HttpRequestException or InvalidOperationException)
{
    // The problem's stable code first, for scripts; then the server's explanation.
    var text = e is FahrtenbuchApiException api ? $"{api.Code}: {e.Message}" : e.Message;
    AnsiConsole.MarkupLine($"[red]Fehler / error:[/] {Markup.Escape(text)}");
    return 1;
}

CliState State(ParseResult parse) => new(parse.GetValue(stateDir) ?? CliState.DefaultDirectory());

(CliState State, FahrtenbuchClient Client) Connect(ParseResult parse)
{
    var state = State(parse);
    var server = parse.GetValue(serverOverride) ?? state.Server ?? throw new InvalidOperationException("Not signed in: run 'fahrtenbuch login --server URL --email …' first.");
    return (state, new FahrtenbuchClient(new Uri(server), state) { RequestTimeout = TimeSpan.FromSeconds(30) });
}

static VehicleInfo FindVehicle(CliState state, string key)
{
    var plate = string.Join(' ', key.Trim().ToUpperInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));
    return state.Vehicles.FirstOrDefault(v => v.Id.ToString() == key || v.Plate == plate)
        ?? throw new InvalidOperationException($"Unknown vehicle '{key}'; run 'fahrtenbuch vehicles' while online.");
}

static int LastOdometer(Outbox outbox, VehicleInfo car) =>
    outbox.Trips().Where(t => t.VehicleId == car.Id).Select(t => t.EndOdometer ?? t.StartOdometer).DefaultIfEmpty(car.CurrentOdometer).Max() is var local && local > car.CurrentOdometer
        ? local
        : car.CurrentOdometer;

static async Task<int> TrySendAsync(FahrtenbuchClient client, Outbox outbox, CancellationToken ct)
{
    try
    {
        var report = await outbox.FlushAsync(client, cancellationToken: ct);
        AnsiConsole.MarkupLine(report.Conflicts > 0
            ? "[yellow]Gesendet, zur Prüfung markiert / sent, flagged for review.[/]"
            : "Gesendet / sent.");
        return report.Rejected > 0 ? 3 : 0;
    }
    catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
    {
        AnsiConsole.MarkupLine($"[yellow]Offline – gespeichert, {outbox.Count} warten auf 'sync' / offline – queued, {outbox.Count} waiting for 'sync'.[/]");
        return 0;
    }
}

static string Summary(LiveEvent e)
{
    var text = e.Data.ToString();
    return text.Length > 160 ? text[..160] + "…" : text;
}
