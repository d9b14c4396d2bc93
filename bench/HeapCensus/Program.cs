// Usage: dotnet run --project bench/HeapCensus -c Release -- <pid> [top types] [--referrers <type name part>[|<part>...]] [--garbage]
// Attaches to a running .NET process (suspending it while it counts), and prints the managed heap by type (only the
// objects reachable from a root: garbage the GC has not collected yet is counted apart) and the strings that take the
// most room: where the memory per open stream goes (docs/benchmarks.md). With --referrers it also prints, for the live
// objects whose type name contains the given text, the types of the objects that point at them. With --garbage it prints
// the garbage of generation 0 instead of the live objects: taken under a steady load, a sample of what the server
// allocated since its last collection and dropped (where the allocations per request go; older garbage, such as events
// that left the replay cache, is left out). Run as the same user as the server (or root).
using Microsoft.Diagnostics.Runtime;

var pid = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var top = args.Length > 1 && !args[1].StartsWith("--", StringComparison.Ordinal)
    ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)
    : 60;
var at = Array.IndexOf(args, "--referrers");
if (at >= 0 && at + 1 >= args.Length)
{
    Console.Error.WriteLine("--referrers needs the part of a type name to look for, for example 'CancellationTokenSource|Claim'");
    return 2;
}

var referrersOf = at >= 0 ? args[at + 1].Split('|') : null;
var garbage = args.Contains("--garbage");

using var target = DataTarget.AttachToProcess(pid, suspend: true);
var clr = target.ClrVersions[0];

// The runtime's own data-access library ships next to it; symbol servers are out of reach here.
var dac = Path.Combine(Path.GetDirectoryName(clr.ModuleInfo.FileName)!, "libmscordaccore.so");
using var runtime = clr.CreateRuntime(dac, ignoreMismatch: true);
var heap = runtime.Heap;

// Mark what the roots reach, as the GC would.
var live = new HashSet<ulong>();
var pending = new Stack<ulong>();
foreach (var root in heap.EnumerateRoots())
{
    if (root.Object.Address != 0 && live.Add(root.Object.Address))
    {
        pending.Push(root.Object.Address);
    }
}

var referrers = new Dictionary<string, (long Count, long Bytes)>();
while (pending.Count > 0)
{
    var obj = heap.GetObject(pending.Pop());
    if (!obj.IsValid)
    {
        continue;
    }

    foreach (var reference in obj.EnumerateReferences(carefully: true))
    {
        if (referrersOf is not null && reference.Type?.Name is { } referenced
            && referrersOf.Any(part => referenced.Contains(part, StringComparison.Ordinal)))
        {
            Add(referrers, $"{obj.Type?.Name} -> {referenced}", (long)reference.Size);
        }

        if (live.Add(reference.Address))
        {
            pending.Push(reference.Address);
        }
    }
}

var types = new Dictionary<string, (long Count, long Bytes)>();
var strings = new Dictionary<string, (long Count, long Bytes)>();
long total = 0, dead = 0;
foreach (var obj in heap.EnumerateObjects())
{
    if (!obj.IsValid || obj.IsFree)
    {
        continue;
    }

    var size = (long)obj.Size;
    var isLive = live.Contains(obj.Address);
    if (isLive)
    {
        total += size;
    }
    else
    {
        dead += size;
    }

    if (isLive == garbage || (garbage && heap.GetSegmentByAddress(obj.Address)?.GetGeneration(obj.Address) != Generation.Generation0))
    {
        continue;
    }

    var name = obj.Type?.Name ?? "?";
    Add(types, name, size);
    if (obj.Type?.IsString == true)
    {
        var value = obj.AsString(200) ?? "";
        Add(strings, value.Length > 40 ? $"[{value.Length}] {value[..40]}" : value, size);
    }
}

Console.WriteLine($"managed heap: {total:N0} bytes reachable, {dead:N0} bytes of garbage not collected yet; by type, the {(garbage ? "garbage of generation 0" : "reachable objects")}:");
Print(types, top);
Console.WriteLine("--- strings");
Print(strings, 25);
if (referrersOf is not null)
{
    Console.WriteLine($"--- what points at live objects of types containing \"{string.Join("\" or \"", referrersOf)}\"");
    Print(referrers, 120);
}

return 0;

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
