using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadGen;

/// <summary>One row of the generator's table: a server in a scenario in one round, as printed.</summary>
public sealed partial record Row(string Scenario, int Round, string[] Cells)
{
    public string Server => Cells[0];

    public bool Failed => Cells[2].StartsWith("failed", StringComparison.Ordinal);

    public double P99Ms => Number(Cells[5]);

    /// <summary>Lost and duplicated events; a peer's reconnect row has no lost count (it cannot replay).</summary>
    public long LostOrDuplicated => Count(Cells[7]) + Count(Cells[8]);

    public double DeliveriesPerCpuSecond => Number(Cells[9]);

    public double KiBPerConnection => Number(Cells[11]);

    /// <summary>The rate the last column opens with ("3277 events/s, …", "3777 resumes/s …").</summary>
    public double Rate => LeadingRate().Match(Cells[12]) is { Success: true } match ? Number(match.Groups[1].Value) : double.NaN;

    /// <summary>The rate a steady or burst row's events really went out at ("10.0 events/s sent"); NaN for other rows.</summary>
    public double Sent => Cells[12].Contains(" events/s sent", StringComparison.Ordinal) ? Rate : double.NaN;

    /// <summary>The cells as the table prints them: with several rounds the scenario names its round.</summary>
    public string Line(int rounds) =>
        "| " + string.Join(" | ", rounds > 1 ? [Cells[0], $"{Cells[1]} #{Round}", .. Cells[2..]] : Cells) + " |";

    private static long Count(string cell) => long.TryParse(cell, CultureInfo.InvariantCulture, out var count) ? count : 0;

    private static double Number(string cell) => double.TryParse(cell, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;

    [GeneratedRegex(@"^(\d+(?:\.\d+)?) (?:events|resumes)/s")]
    private static partial Regex LeadingRate();
}

/// <summary>
/// The issue's targets read off the table (listed in docs/benchmarks.md, "Targets"): ratios against the best peer of the same round,
/// and the two absolute rates. With several rounds a target is judged by the median round, so one round caught in a slow or
/// fast moment of the machine does not decide it; the range shows how far the rounds spread.
/// </summary>
public static class Verdicts
{
    public static IReadOnlyList<string> Table(IReadOnlyList<Row> rows)
    {
        var lines = new List<string> { "| target | measured | verdict |", "|---|---|---|" };
        foreach (var scenario in new[] { "steady-1k", "steady-10k" })
        {
            lines.Add(AgainstBestPeer(rows, scenario, $"deliveries/CPU-s at {Subscribers(scenario)} ≥ best peer", r => r.DeliveriesPerCpuSecond, higherIsBetter: true, "F0"));
        }

        foreach (var scenario in new[] { "steady-1k", "steady-10k", "steady-20k" })
        {
            lines.Add(AgainstBestPeer(rows, scenario, $"p99 at {Subscribers(scenario)} ≤ best peer", r => r.P99Ms, higherIsBetter: false, "F1", " ms"));
        }

        var ours = rows.Where(r => r.Server == FahrtenbuchTarget.ServerName && !r.Failed).ToList();
        var unclean = ours.Where(r => r.LostOrDuplicated != 0).Select(r => $"{r.Scenario} #{r.Round}").ToList();
        lines.Add(ours.Count == 0
            ? "| none lost or duplicated (ours) | not run | – |"
            : $"| none lost or duplicated (ours) | {(unclean.Count == 0 ? $"0 in {ours.Count} rows" : "lost or duplicated in " + string.Join(", ", unclean))} | {(unclean.Count == 0 ? "met" : "not met")} |");

        lines.Add(AgainstBestPeer(rows, "idle", "idle memory per stream ≤ best peer (aim ≤ 12 KiB)", r => r.KiBPerConnection, higherIsBetter: false, "F1", " KiB"));
        lines.Add(AtLeast(rows, "reconnect", "reconnect storm ≥ 3,000 resumes/s with replay", 3_000, "resumes/s"));
        lines.Add(AtLeast(rows, "write", "write path ≥ 5,000 committed events/s", 5_000, "events/s"));
        return lines;
    }

    private static string Subscribers(string scenario) => scenario switch
    {
        "steady-1k" => "1,000",
        "steady-10k" => "10,000",
        _ => "20,000",
    };

    private static string AgainstBestPeer(IReadOnlyList<Row> rows, string scenario, string target, Func<Row, double> figure, bool higherIsBetter, string format, string unit = "")
    {
        var rounds = new List<(double Ratio, string Text)>();
        foreach (var round in rows.Where(r => r.Scenario == scenario).GroupBy(r => r.Round))
        {
            var ours = round.FirstOrDefault(r => r.Server == FahrtenbuchTarget.ServerName && !r.Failed && !double.IsNaN(figure(r)));
            var peers = round.Where(r => r.Server != FahrtenbuchTarget.ServerName && !r.Failed && !double.IsNaN(figure(r))).ToList();
            if (ours is null || peers.Count == 0)
            {
                continue;
            }

            var best = higherIsBetter ? peers.MaxBy(figure)! : peers.MinBy(figure)!;
            var ratio = figure(ours) / figure(best);
            rounds.Add((ratio, $"{Format(figure(ours), format)}{unit}{Behind(ours)} vs {best.Server} {Format(figure(best), format)}{unit}{Behind(best)} ({ratio:F2}×)"));
        }

        if (rounds.Count == 0)
        {
            return $"| {target} | not run (needs {FahrtenbuchTarget.ServerName} and a peer in {scenario}) | – |";
        }

        var median = Median(rounds.Select(r => r.Ratio));
        var met = higherIsBetter ? median >= 1.0 : median <= 1.0;
        var measured = rounds.Count == 1
            ? rounds[0].Text
            : $"median {median:F2}× of {rounds.Count} rounds: " + string.Join("; ", rounds.Select(r => r.Text));
        return $"| {target} | {measured} | {(met ? "met" : "not met")} |";
    }

    /// <summary>A steady scenario publishes 10 events/s; a server that made the publisher wait fell behind that schedule.</summary>
    private static string Behind(Row row) =>
        row.Scenario.StartsWith("steady-", StringComparison.Ordinal) && row.Sent < 9.5 ? $" (kept up with {row.Sent:F1} of 10 events/s)" : "";

    private static string AtLeast(IReadOnlyList<Row> rows, string scenario, string target, double threshold, string unit)
    {
        var rates = rows.Where(r => r.Scenario == scenario && r.Server == FahrtenbuchTarget.ServerName && !r.Failed && !double.IsNaN(r.Rate)).Select(r => r.Rate).ToList();
        if (rates.Count == 0)
        {
            return $"| {target} | not run (needs {FahrtenbuchTarget.ServerName} in {scenario}) | – |";
        }

        var median = Median(rates);
        var measured = rates.Count == 1
            ? $"{Format(median, "F0")} {unit}"
            : $"median {Format(median, "F0")} {unit} of {rates.Count} rounds: {string.Join(", ", rates.Select(r => Format(r, "F0")))}";
        return $"| {target} | {measured} | {(median >= threshold ? "met" : "not met")} |";
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Format(double value, string format) => value.ToString(format == "F0" ? "N0" : "N1", CultureInfo.InvariantCulture);
}
