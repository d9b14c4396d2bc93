// Usage: dotnet run --project bench/HeapCensus -c Release -- <pid> [top types]
// Attaches to a running .NET process (suspending it while it counts), and prints the managed heap by type and the
// strings that take the most room: where the memory per open stream goes (docs/benchmarks.md). Run as the same user
// as the server (or root).
using Microsoft.Diagnostics.Runtime;

var pid = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var top = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 60;
using var target = DataTarget.AttachToProcess(pid, suspend: true);
var clr = target.ClrVersions[0];

// The runtime's own data-access library ships next to it; symbol servers are out of reach here.
var dac = Path.Combine(Path.GetDirectoryName(clr.ModuleInfo.FileName)!, "libmscordaccore.so");
using var runtime = clr.CreateRuntime(dac, ignoreMismatch: true);

var types = new Dictionary<string, (long Count, long Bytes)>();
var strings = new Dictionary<string, (long Count, long Bytes)>();
long total = 0;
foreach (var obj in runtime.Heap.EnumerateObjects())
{
    if (!obj.IsValid || obj.IsFree)
    {
        continue;
    }

    var name = obj.Type?.Name ?? "?";
    var size = (long)obj.Size;
    total += size;
    Add(types, name, size);
    if (obj.Type?.IsString == true)
    {
        var value = obj.AsString(200) ?? "";
        Add(strings, value.Length > 40 ? $"[{value.Length}] {value[..40]}" : value, size);
    }
}

Console.WriteLine($"managed heap: {total:N0} bytes");
Print(types, top);
Console.WriteLine("--- strings");
Print(strings, 25);

static void Add(Dictionary<string, (long Count, long Bytes)> map, string key, long size)
{
    map.TryGetValue(key, out var seen);
    map[key] = (seen.Count + 1, seen.Bytes + size);
}

static void Print(Dictionary<string, (long Count, long Bytes)> map, int top)
{
    foreach (var (key, (count, bytes)) in map.OrderByDescending(kv => kv.Value.Bytes).Take(top))
    {
        Console.WriteLine($"{bytes,14:N0} {count,10:N0}  {key.ReplaceLineEndings(" ")}");
    }
}
