using System.Diagnostics;

namespace LoadGen;

/// <summary>Delivery bookkeeping shared by all subscribers of one run: counts, order checks and a latency histogram.</summary>
public sealed class Metrics
{
    private const int BucketsPerMs = 10;
    private const int MaxMs = 30_000;
    private readonly long[] _histogram = new long[MaxMs * BucketsPerMs + 1];
    private long _deliveries;
    private long _duplicates;
    private long _gaps;
    private long _latencySamples;
    private long _maxLatencyTicks;

    public long Deliveries => Interlocked.Read(ref _deliveries);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public long Gaps => Interlocked.Read(ref _gaps);

    public void Delivered() => Interlocked.Increment(ref _deliveries);

    public void Duplicate() => Interlocked.Increment(ref _duplicates);

    public void Gap(long missing) => Interlocked.Add(ref _gaps, missing);

    /// <summary>
    /// Records the time from when the event was due (a Stopwatch timestamp of this process's schedule) to its arrival.
    /// Latencies from 30 s on all count as 30 s.
    /// </summary>
    public void Latency(long publishedTimestamp)
    {
        var ticks = Stopwatch.GetTimestamp() - publishedTimestamp;
        var bucket = (int)Math.Min(_histogram.Length - 1, Math.Max(0, ticks * 1000 * BucketsPerMs / Stopwatch.Frequency));
        Interlocked.Increment(ref _histogram[bucket]);
        Interlocked.Increment(ref _latencySamples);
        RaiseTo(ref _maxLatencyTicks, ticks);
    }

    /// <summary>Atomically raises <paramref name="location"/> to <paramref name="value"/> if that is larger.</summary>
    public static void RaiseTo(ref long location, long value)
    {
        long seen;
        while (value > (seen = Interlocked.Read(ref location)) && Interlocked.CompareExchange(ref location, value, seen) != seen)
        {
        }
    }

    /// <summary>Starts the measured part of a run: deliveries and latencies from here on; losses and duplicates stay counted.</summary>
    public void ResetDeliveriesAndLatency()
    {
        Array.Clear(_histogram);
        Interlocked.Exchange(ref _deliveries, 0);
        Interlocked.Exchange(ref _latencySamples, 0);
        Interlocked.Exchange(ref _maxLatencyTicks, 0);
    }

    public double PercentileMs(double p)
    {
        var total = Interlocked.Read(ref _latencySamples);
        if (total == 0)
        {
            return double.NaN;
        }

        var target = (long)Math.Ceiling(total * p);
        long seen = 0;
        for (var i = 0; i < _histogram.Length; i++)
        {
            seen += _histogram[i];
            if (seen >= target)
            {
                return (double)i / BucketsPerMs;
            }
        }

        return MaxMs;
    }

    public double MaxMsObserved => Interlocked.Read(ref _maxLatencyTicks) * 1000.0 / Stopwatch.Frequency;
}

/// <summary>Per-subscriber order check: events carry a dense sequence; a jump is a loss, a repeat a duplicate.</summary>
public sealed class SequenceTracker(Metrics metrics)
{
    public long Last { get; private set; }

    public void Observe(long sequence)
    {
        if (sequence <= Last)
        {
            metrics.Duplicate();
            return;
        }

        if (sequence > Last + 1 && Last != 0)
        {
            metrics.Gap(sequence - Last - 1);
        }

        Last = sequence;
        metrics.Delivered();
    }
}

/// <summary>CPU time and memory of a server process, read from /proc.</summary>
public sealed record ProcessSample(double CpuSeconds, long RssBytes, long PeakRssBytes)
{
    public static ProcessSample Read(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = ParseKb(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = ParseKb(line);
            }
        }

        return new ProcessSample(ticks / 100.0, rss, peak);
    }

    private static long ParseKb(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
