namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// A refused request: carries the stable machine-readable <see cref="Code"/> and the HTTP status
/// that the single exception handler turns into RFC 9457 problem details.
/// </summary>
public sealed class DomainException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public static DomainException NotFound(string what) =>
        new(StatusCodes.Status404NotFound, $"{what}.not-found", $"The {what} does not exist or is not visible to you.");

    public static DomainException Conflict(string code, string message) =>
        new(StatusCodes.Status409Conflict, code, message);

    public static DomainException Invalid(string code, string message) =>
        new(StatusCodes.Status422UnprocessableEntity, code, message);

    public static DomainException Forbidden(string code, string message) =>
        new(StatusCodes.Status403Forbidden, code, message);
}
