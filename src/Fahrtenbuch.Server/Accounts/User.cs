using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Fahrtenbuch.Server.Accounts;

public enum UserRole
{
    Driver,
    FleetManager,
    Auditor,
}

public sealed class User : IdentityUser<Guid>
{
    private User()
    {
        DisplayName = "";
    }

    public User(Guid companyId, string email, string displayName, UserRole role, DateTimeOffset createdAt)
    {
        Id = Guid.CreateVersion7(createdAt);
        CompanyId = companyId;
        Email = email;
        UserName = email;
        DisplayName = displayName;
        Role = role;
        CreatedAt = createdAt;
        LockoutEnabled = true;
    }

    public Guid CompanyId { get; private set; }

    public string DisplayName { get; private set; }

    public UserRole Role { get; private set; }

    public bool IsDisabled { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    /// <summary>SHA-256 of the one-time invitation code; null once accepted.</summary>
    public string? InvitationHash { get; private set; }

    public DateTimeOffset? InvitationExpiresAt { get; private set; }

    public bool HasPendingInvitation => InvitationHash is not null;

    public bool CanWrite => Role != UserRole.Auditor;

    public bool SeesWholeCompany => Role is UserRole.FleetManager or UserRole.Auditor;

    public void Invite(string codeHash, DateTimeOffset expiresAt)
    {
        InvitationHash = codeHash;
        InvitationExpiresAt = expiresAt;
    }

    public void AcceptInvitation() => (InvitationHash, InvitationExpiresAt) = (null, null);

    public void Disable() => IsDisabled = true;

    public void Enable() => IsDisabled = false;

    public void Rename(string displayName) => DisplayName = displayName;

    public void ChangeRole(UserRole role) => Role = role;
}

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> builder)
    {
        builder.Property(u => u.DisplayName).HasMaxLength(200);
        builder.Property(u => u.Role).HasConversion<string>().HasMaxLength(20);
        builder.Property(u => u.InvitationHash).HasMaxLength(64);
        builder.HasIndex(u => u.CompanyId);
        builder.HasOne<Company>().WithMany().HasForeignKey(u => u.CompanyId).OnDelete(DeleteBehavior.Restrict);
    }
}
