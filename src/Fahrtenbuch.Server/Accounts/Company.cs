using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Accounts;

/// <summary>A tenant. Its <see cref="LogHead"/> is the last position of its event log.</summary>
public sealed class Company
{
    private Company()
    {
        Name = "";
        Country = "DE";
    }

    public Company(string name, string country, DateTimeOffset createdAt)
    {
        Id = Guid.CreateVersion7(createdAt);
        Name = name;
        Country = country;
        CreatedAt = createdAt;
    }

    public Guid Id { get; private set; }

    public string Name { get; private set; }

    /// <summary>ISO country code of the tax profile: DE, AT or CH.</summary>
    public string Country { get; private set; }

    public long LogHead { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }
}

internal sealed class CompanyConfiguration : IEntityTypeConfiguration<Company>
{
    public void Configure(EntityTypeBuilder<Company> builder)
    {
        builder.Property(c => c.Name).HasMaxLength(200);
        builder.Property(c => c.Country).HasMaxLength(2);
    }
}
