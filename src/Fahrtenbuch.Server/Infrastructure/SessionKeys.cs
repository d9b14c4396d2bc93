using Microsoft.AspNetCore.DataProtection;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>Where the data-protection keys live that protect the session cookie (section <c>DataProtection</c>).</summary>
public sealed class SessionKeyOptions
{
    public const string Section = "DataProtection";

    /// <summary>
    /// A folder for the keys instead of the database (empty, the default: the database, so every instance on it shares them).
    /// Only for keeping the keys of an installation that stored them in <c>&lt;Storage:DataDirectory&gt;/keys</c>.
    /// </summary>
    public string KeysDirectory { get; set; } = "";
}

public static class SessionKeys
{
    /// <summary>The discriminator of every protected payload; changing it invalidates every cookie session.</summary>
    public const string ApplicationName = "fahrtenbuch";

    /// <summary>
    /// Cookie sessions must survive a restart and be readable by every instance, so the keys live in the database all
    /// instances share (table <c>DataProtectionKeys</c>), or in a configured folder.
    /// </summary>
    public static IServiceCollection AddSessionKeys(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SessionKeyOptions>().BindConfiguration(SessionKeyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var keys = services.AddDataProtection().SetApplicationName(ApplicationName);

        // Read here, not through IOptions: the key repository is chosen while the services are still being registered.
        var directory = configuration.GetValue<string>(SessionKeyOptions.Section + ":" + nameof(SessionKeyOptions.KeysDirectory));
        if (string.IsNullOrWhiteSpace(directory))
        {
            keys.PersistKeysToDbContext<AppDbContext>();
        }
        else
        {
            keys.PersistKeysToFileSystem(new DirectoryInfo(directory));
        }

        return services;
    }

    /// <summary>
    /// Creates the first key if there is none yet. Called by the <c>migrate</c> step, so instances started together on a
    /// fresh database find one key instead of each creating its own (which the others would not see for a while).
    /// </summary>
    public static void EnsureKey(IServiceProvider services) =>
        services.GetRequiredService<IDataProtectionProvider>().CreateProtector(ApplicationName).Protect([]);
}
