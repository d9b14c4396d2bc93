using System.Diagnostics;
using System.Globalization;

namespace Fahrtenbuch.Server.Tests;

/// <summary>The benchmark loads both cores for its few seconds: it runs alone, after the classes that run in parallel.</summary>
[CollectionDefinition(nameof(BenchmarkSmoke), DisableParallelization = true)]
public sealed class BenchmarkSmoke;

/// <summary>
/// The benchmark of docs/benchmarks.md stays runnable: its projects build, and its load generator drives the Release server
/// as users run it (authenticated streams, real trip writes through the SQLite log) with nothing lost or duplicated. Nothing
/// here asserts a speed: the figures depend on the machine (docs/benchmarks.md, "Run it").
/// </summary>
[Collection(nameof(BenchmarkSmoke))]
public sealed class BenchmarkSmokeTests
{
    /// <summary>
    /// For the builds and the run together, below the suite's hang limit (<c>--blame-hang-timeout 5m</c> in scripts/test.sh), so
    /// the test stops the generator and its server itself rather than have the test host killed around them.
    /// </summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task LoadGenerator_DrivesTheReleaseServer_WithNoEventLostOrDuplicated()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "The generator runs the server on its embedded SQLite file; once per suite is enough.");
        var root = RepositoryRoot();
        using var deadline = StartDeadline();

        // What bench/run.sh builds for our server and the .NET peer, plus the heap census tool the docs tell people to use.
        await BuildReleaseAsync(root, deadline.Token, "src/Fahrtenbuch.Server", "bench/LoadGen", "bench/HeapCensus", "bench/peers/SignalRPeer");

        var table = Path.Combine(Path.GetTempPath(), $"fahrtenbuch-bench-smoke-{Guid.NewGuid():N}.md");
        try
        {
            var generator = Path.Combine("bench", "LoadGen", "bin", "Release", "net10.0", "LoadGen.dll");
            var run = await RunAsync(root, [generator, root, "--targets", "fahrtenbuch", "--scenarios", "steady-10,write", "--seconds", "2", "--warmup", "1", "--rounds", "2", "--out", table], deadline.Token);
            Assert.True(run.Code == 0, $"LoadGen failed:\n{run.Output}");

            var lines = File.ReadAllLines(table);
            var rows = lines.Where(l => l.StartsWith("| fahrtenbuch |", StringComparison.Ordinal)).Select(l => Row.Parse(l, run.Output)).ToList();
            Assert.Equal(["steady-10 #1", "steady-10 #2", "write #1", "write #2"], rows.Select(r => r.Scenario));
            foreach (var row in rows)
            {
                Assert.True(row.Events > 0, $"{row.Scenario}: no event was delivered\n{run.Output}");
                Assert.True(row.Lost == 0 && row.Duplicated == 0, $"{row.Scenario}: {row.Lost} lost, {row.Duplicated} duplicated\n{run.Output}");
            }

            Assert.Equal(10, rows[0].Connections);
            Assert.Matches(@"^[\d.]+ events/s sent, REST write p50 [\d.]+ / p99 [\d.]+ ms$", rows[0].Extra);
            Assert.Matches(@"^\d+ events/s, write lock held [\d.]+ ms per write \(CPU [\d.]+ ms, cycle [\d.]+ ms\), [\d.]+ writes per commit, \d+ drafts redone$", rows[2].Extra);

            // The targets are read off the rows above: the write rates of both rounds, the lost and duplicated count of all
            // four, and no ratio where no peer ran (whether a target is met depends on the machine, so only its form is checked).
            var verdicts = lines.SkipWhile(l => l != "| target | measured | verdict |").ToList();
            Assert.True(verdicts.Count > 0, $"No verdict table:\n{run.Output}");
            var rates = rows[2..].Select(r => r.Extra.Split(' ')[0]).Select(r => int.Parse(r, CultureInfo.InvariantCulture).ToString("N0", CultureInfo.InvariantCulture));
            Assert.Matches(@$"^\| write path ≥ 5,000 committed events/s \| median [\d,]+ events/s of 2 rounds: {string.Join(", ", rates)} \| (met|not met) \|$", Single(verdicts, "| write path"));
            Assert.Equal("| none lost or duplicated (ours) | 0 in 4 rows | met |", Single(verdicts, "| none lost"));
            Assert.All(verdicts.Where(l => l.Contains("best peer", StringComparison.Ordinal)), l => Assert.Contains("| not run (needs fahrtenbuch and a peer in ", l, StringComparison.Ordinal));
            Assert.StartsWith("| reconnect storm ≥ 3,000 resumes/s with replay | not run", Single(verdicts, "| reconnect"), StringComparison.Ordinal);

            // A peer with its events padded to our size (--peer-bytes): every event arrives, read from its bytes, and the
            // table says the peers were padded.
            var padded = await RunAsync(root, [generator, root, "--targets", "aspnet-sse", "--scenarios", "steady-10", "--seconds", "2", "--warmup", "1", "--peer-bytes", "1250", "--out", table], deadline.Token);
            Assert.True(padded.Code == 0, $"LoadGen failed:\n{padded.Output}");
            var paddedLines = File.ReadAllLines(table);
            var peer = Row.Parse(Assert.Single(paddedLines, l => l.StartsWith("| aspnet sse |", StringComparison.Ordinal)), padded.Output);
            Assert.True(peer.Events > 0 && peer.Lost == 0 && peer.Duplicated == 0, $"aspnet sse: {peer.Events} events, {peer.Lost} lost, {peer.Duplicated} duplicated\n{padded.Output}");
            Assert.Contains("The peers' events were padded to 1250 bytes (`--peer-bytes`).", paddedLines);

            var refused = await RunAsync(root, [generator, root, "--targets", "aspnet-sse", "--peer-bytes", "-1"], deadline.Token);
            Assert.Equal(2, refused.Code);
            Assert.Contains("--peer-bytes takes 0", refused.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(table);
        }
    }

    [Fact]
    public async Task RequestCostScript_MeasuresOneRequestOfTheReleaseServer()
    {
        Assert.SkipWhen(TestDatabase.UsesPostgres, "The script runs the server on its embedded SQLite file; once per suite is enough.");
        var root = RepositoryRoot();
        using var deadline = StartDeadline();
        await BuildReleaseAsync(root, deadline.Token, "src/Fahrtenbuch.Server");

        var run = await RunAsync(root, ["bench/request-cost.sh", root, "/api/me", "300", "300"], deadline.Token, "bash");

        Assert.True(run.Code == 0, $"bench/request-cost.sh failed:\n{run.Output}");
        Assert.Matches(@"^/api/me: [1-9][\d,]* bytes and [\d,.]+ µs of server CPU per request \(responses: 300 × 200\)$", run.Output.Trim());

        var missing = await RunAsync(root, ["bench/request-cost.sh", Path.GetTempPath()], deadline.Token, "bash");
        Assert.Equal(1, missing.Code);
        Assert.Contains("no Release build at", missing.Output, StringComparison.Ordinal);
    }

    private static CancellationTokenSource StartDeadline()
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        return deadline;
    }

    /// <summary>Builds the projects in Release, without build servers: nothing of MSBuild or the compiler stays running after the test.</summary>
    private static async Task BuildReleaseAsync(string root, CancellationToken deadline, params string[] projects)
    {
        foreach (var project in projects)
        {
            var build = await RunAsync(root, ["build", project, "-c", "Release", "-nologo", "-v", "quiet", "--disable-build-servers"], deadline);
            Assert.True(build.Code == 0, $"dotnet build {project} failed:\n{build.Output}");
        }
    }

    private static string Single(IEnumerable<string> lines, string prefix) => Assert.Single(lines, l => l.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>One of our rows of the generator's Markdown table.</summary>
    private sealed record Row(string Scenario, int Connections, long Events, long Lost, long Duplicated, string Extra)
    {
        // | server | scenario | conns | events | p50 | p99 | max | lost | dup | deliveries/CPU-s | peak RSS | KiB/conn | extra |
        public static Row Parse(string line, string output)
        {
            var cells = line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            Assert.True(cells.Length == 13, $"Unexpected row: {line}\n{output}");
            return new Row(cells[1], Int(cells[2]), Int(cells[3]), Int(cells[7]), Int(cells[8]), cells[12]);

            int Int(string cell) => int.TryParse(cell, CultureInfo.InvariantCulture, out var value) ? value : throw new Xunit.Sdk.XunitException($"Not a number in: {line}\n{output}");
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Fahrtenbuch.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Fahrtenbuch.slnx above {AppContext.BaseDirectory}.");
    }

    /// <summary>Runs <paramref name="program"/> (<c>dotnet</c> unless named) with <paramref name="args"/>; its output and error together.</summary>
    private static async Task<(int Code, string Output)> RunAsync(string workingDirectory, string[] args, CancellationToken deadline, string program = "dotnet")
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(deadline);
        var error = process.StandardError.ReadToEndAsync(deadline);
        try
        {
            await process.WaitForExitAsync(deadline);
            return (process.ExitCode, await output + await error);
        }
        catch (OperationCanceledException)
        {
            // The generator and the script start the server as their child: stop both, not only the parent.
            process.Kill(entireProcessTree: true);
            throw;
        }
    }
}
