namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>Marks an entity that belongs to one company; the DbContext filters every query on it by the caller's company.</summary>
public interface ITenantOwned
{
    Guid CompanyId { get; }
}
