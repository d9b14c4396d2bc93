using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>The one JSON shape of the API, shared by HTTP bodies and event payloads.</summary>
public static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>
    /// Event payloads as the log stores them and the live streams send them: the shape of <see cref="Options"/>, with a
    /// property whose value is null left out (a client reads an absent property as null). A trip start carries sixteen
    /// nulls, and every stream and every replay sends each event again: about 30 % of an event's bytes
    /// (docs/adr/0011-event-payloads-without-nulls.md).
    /// </summary>
    public static JsonSerializerOptions EventOptions { get; } = new(Options) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        return options;
    }
}

/// <summary>
/// An enum query parameter spelled as in JSON bodies (<c>?state=completed</c>, <c>?category=business</c>).
/// Minimal APIs bind bare enums case-sensitively by C# name, which would refuse the values the API itself returns.
/// </summary>
public readonly record struct QueryEnum<T>(T Value)
    where T : struct, Enum
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1000", Justification = "Minimal APIs bind a parameter through its static TryParse.")]
    public static bool TryParse(string? text, out QueryEnum<T> result)
    {
        foreach (var value in Enum.GetValues<T>())
        {
            var name = value.ToString();
            if (string.Equals(text, JsonNamingPolicy.KebabCaseLower.ConvertName(name), StringComparison.OrdinalIgnoreCase)
                || string.Equals(text, name, StringComparison.OrdinalIgnoreCase))
            {
                result = new QueryEnum<T>(value);
                return true;
            }
        }

        result = default;
        return false;
    }
}
