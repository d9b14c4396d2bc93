using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Sync;

/// <summary>Limits of offline sync (section <c>Sync</c>).</summary>
public sealed class SyncOptions
{
    public const string Section = "Sync";

    /// <summary>Operations one sync request may carry; more is refused with 413 <c>sync.too-many-operations</c>.</summary>
    [Range(1, 100_000)]
    public int MaxOperations { get; set; } = 5_000;

    /// <summary>Largest sync request body in bytes (16 MiB: 5,000 operations of up to ~3 KiB each).</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;
}
