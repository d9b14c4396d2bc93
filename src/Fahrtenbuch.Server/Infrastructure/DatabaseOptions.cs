using System.ComponentModel.DataAnnotations;

namespace Fahrtenbuch.Server.Infrastructure;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>Which database the server uses and how its schema is kept current (section <c>Database</c>).</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>
    /// <c>Sqlite</c> (a file in <see cref="StorageOptions.DataDirectory"/> unless <c>ConnectionStrings:Fahrtenbuch</c> is set)
    /// or <c>Postgres</c> (needs <c>ConnectionStrings:Fahrtenbuch</c>).
    /// </summary>
    [EnumDataType(typeof(DatabaseProvider))]
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>
    /// Apply pending migrations at start. Turn off in production and run <c>Fahrtenbuch.Server migrate</c> as an upgrade step;
    /// the server then refuses to start against a database that is behind.
    /// </summary>
    public bool MigrateOnStart { get; set; } = true;

    /// <summary>
    /// SQLite: logged writes that queue up behind each other commit in one transaction (docs/adr/0009). A group ends when no
    /// write is waiting, when it has this many writes (1: every write commits alone), or when a write finishes after
    /// <see cref="GroupCommitMaxAgeMilliseconds"/>. A write answers once its group has committed.
    /// </summary>
    [Range(1, 1000)]
    public int GroupCommitMaxWrites { get; set; } = 32;

    /// <inheritdoc cref="GroupCommitMaxWrites"/>
    [Range(0, 60_000)]
    public int GroupCommitMaxAgeMilliseconds { get; set; } = 10;
}
