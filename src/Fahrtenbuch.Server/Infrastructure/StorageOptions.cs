using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>Where data lives (section <c>Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>Folder for the SQLite file and generated keys, relative to the working directory.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";
}
