using Npgsql;

namespace Fahrtenbuch.Server.Tests;

/// <summary>A PostgreSQL database of one factory's own; the server's migrations create it, <see cref="Drop"/> removes it.</summary>
public sealed class TestDatabase
{
    public const string ProviderVariable = "FAHRTENBUCH_TEST_DB";
    public const string ServerVariable = "FAHRTENBUCH_TEST_PG";

    private readonly string _server;

    private TestDatabase(string server, string key)
    {
        _server = server;
        Name = "fahrtenbuch_test_" + key.ToLowerInvariant();
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = Name }.ToString();
    }

    public static bool UsesPostgres => string.Equals(Environment.GetEnvironmentVariable(ProviderVariable), "postgres", StringComparison.OrdinalIgnoreCase);

    public string Name { get; }

    public string ConnectionString { get; }

    /// <summary>The database to use, or null for the default SQLite file.</summary>
    public static TestDatabase? FromEnvironment(string key)
    {
        if (!UsesPostgres)
        {
            return null;
        }

        var server = Environment.GetEnvironmentVariable(ServerVariable);
        return string.IsNullOrWhiteSpace(server)
            ? throw new InvalidOperationException($"{ProviderVariable}=postgres needs {ServerVariable} (a connection string without a database).")
            : new TestDatabase(server, key);
    }

    public void Drop()
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_server) { Database = "postgres", Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)";
        command.ExecuteNonQuery();
    }
}
