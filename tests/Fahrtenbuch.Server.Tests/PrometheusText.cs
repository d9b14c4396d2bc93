using System.Globalization;

namespace Fahrtenbuch.Server.Tests;

/// <summary>
/// Reads values out of a <c>/metrics</c> scrape. The meter is process-wide, so servers of other test classes move the same
/// series: tests compare a value with one taken before, never with an absolute number.
/// </summary>
public static class PrometheusText
{
    /// <summary>The sum of every sample of <paramref name="name"/> whose labels contain all of <paramref name="labels"/> (0 when absent).</summary>
    public static double Sum(string text, string name, params string[] labels)
    {
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length
                || (line[name.Length] != '{' && line[name.Length] != ' '))
            {
                continue;
            }

            var close = line.IndexOf('}', StringComparison.Ordinal);
            var labelText = close < 0 ? "" : line[name.Length..close];
            if (!labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
            {
                continue;
            }

            var value = line[(close < 0 ? name.Length : close + 1)..].Trim().Split(' ')[0];
            sum += double.Parse(value, CultureInfo.InvariantCulture);
        }

        return sum;
    }

    /// <summary>Scrapes until <paramref name="done"/> holds (the exporter caches a scrape briefly), or fails with the last text.</summary>
    public static async Task<string> UntilAsync(HttpClient client, Func<string, bool> done, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var text = await client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
            if (done(text))
            {
                return text;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("The metrics never reached the expected values:\n" + string.Join('\n', text.Split('\n').Where(l => l.StartsWith("fahrtenbuch_", StringComparison.Ordinal))));
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
