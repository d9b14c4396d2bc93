using System.Text.Json;
using Fahrtenbuch.Client;

namespace Fahrtenbuch.Cli;

/// <summary>What the CLI remembers between runs: server, signed-in user's tokens, known vehicles (one JSON file) and the outbox (SQLite).</summary>
public sealed class CliState : ITokenStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly string _file;
    private Settings _settings;

    public CliState(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        _file = Path.Combine(directory, "state.json");
        _settings = File.Exists(_file) ? JsonSerializer.Deserialize<Settings>(File.ReadAllText(_file), Json) ?? new Settings() : new Settings();
    }

    public string Directory { get; }

    public string OutboxPath => Path.Combine(Directory, "outbox.db");

    public string? Server
    {
        get => _settings.Server;
        set => Update(_settings with { Server = value });
    }

    public string? Email
    {
        get => _settings.Email;
        set => Update(_settings with { Email = value });
    }

    public List<VehicleInfo> Vehicles
    {
        get => _settings.Vehicles ?? [];
        set => Update(_settings with { Vehicles = value });
    }

    /// <summary>The directory from <c>--state-dir</c>, else <c>FAHRTENBUCH_HOME</c>, else <c>~/.fahrtenbuch</c>.</summary>
    public static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("FAHRTENBUCH_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fahrtenbuch");

    public TokenSet? Load() => _settings.Tokens;

    public void Save(TokenSet? tokens) => Update(_settings with { Tokens = tokens });

    private void Update(Settings settings)
    {
        _settings = settings;
        var temporary = _file + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(settings, Json));
        File.Move(temporary, _file, overwrite: true);
    }

    private sealed record Settings(string? Server = null, string? Email = null, TokenSet? Tokens = null, List<VehicleInfo>? Vehicles = null);
}
