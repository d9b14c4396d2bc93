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
}
