using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Logbook;
using Fahrtenbuch.Server.Sync;
using Fahrtenbuch.Server.Trips;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// The one database context that all code injects. Every tenant-owned set is filtered by <see cref="CompanyId"/>, which comes
/// from the authenticated caller; without a caller it is <see cref="Guid.Empty"/> and matches nothing.
/// The model is provider-neutral; <see cref="SqliteAppDbContext"/> and <see cref="PostgresAppDbContext"/> exist only so each
/// provider has its own migration set (see docs/adr/0004-database-providers.md).
/// Instances are pooled (see <see cref="Database.AddDatabase"/>): every unit of work binds the one it rents to its own
/// <see cref="CompanyScope"/> with <see cref="For"/>, so no company carries over from the previous user of the instance.
/// </summary>
public abstract class AppDbContext : IdentityUserContext<User, Guid>, IDataProtectionKeyContext
{
    private CompanyScope _scope = new();
    private RelationalTypeMapping? _idMapping;
    private RelationalTypeMapping? _instantMapping;

    protected AppDbContext(DbContextOptions options)
        : base(options)
    {
    }

    public Guid CompanyId => _scope.CompanyId ?? Guid.Empty;

    /// <summary>The provider's mapping of ids, for the few statements written by hand (looked up once per pooled instance).</summary>
    internal RelationalTypeMapping IdMapping => _idMapping ??= this.GetService<IRelationalTypeMappingSource>().FindMapping(typeof(Guid))!;

    /// <summary>
    /// How the model stores an instant (SQLite: UTC ticks, PostgreSQL: timestamptz; see the provider contexts' conventions),
    /// with its value conversion, for the statements written by hand.
    /// </summary>
    internal RelationalTypeMapping InstantMapping =>
        _instantMapping ??= Model.FindEntityType(typeof(Trip))!.FindProperty(nameof(Trip.StartedAt))!.GetRelationalTypeMapping();

    /// <summary>
    /// The <typeparamref name="TEntity"/> entries this context tracks, without first running change detection over every
    /// tracked entity as <c>ChangeTracker.Entries</c> does (a write asked two or three times before its save, which detects
    /// anyway). For callers that read the entities themselves and states set explicitly (added, deleted), not what changed.
    /// </summary>
    internal List<EntityEntry<TEntity>> TrackedEntries<TEntity>() where TEntity : class
    {
        var detect = ChangeTracker.AutoDetectChangesEnabled;
        ChangeTracker.AutoDetectChangesEnabled = false;
        try
        {
            return ChangeTracker.Entries<TEntity>().ToList();
        }
        finally
        {
            ChangeTracker.AutoDetectChangesEnabled = detect;
        }
    }

    /// <summary>Binds this instance, fresh or from the pool, to the company scope of the unit of work that uses it.</summary>
    internal AppDbContext For(CompanyScope scope)
    {
        _scope = scope;
        return this;
    }

    public DbSet<Company> Companies => Set<Company>();

    public DbSet<RefreshToken> RefreshTokens => Set<RefreshToken>();

    public DbSet<Vehicle> Vehicles => Set<Vehicle>();

    public DbSet<OdometerReading> OdometerReadings => Set<OdometerReading>();

    public DbSet<Trip> Trips => Set<Trip>();

    public DbSet<TripRevision> TripRevisions => Set<TripRevision>();

    public DbSet<EventRecord> Events => Set<EventRecord>();

    public DbSet<SyncOperation> SyncOperations => Set<SyncOperation>();

    public DbSet<JournalEntry> JournalEntries => Set<JournalEntry>();

    public DbSet<TripAnnotation> TripAnnotations => Set<TripAnnotation>();

    public DbSet<ClosedPeriod> ClosedPeriods => Set<ClosedPeriod>();

    public DbSet<GapExplanation> GapExplanations => Set<GapExplanation>();

    public DbSet<ReminderSent> RemindersSent => Set<ReminderSent>();

    /// <summary>The keys that protect session cookies, shared by every instance on this database (not tenant data).</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    /// <summary>The users of the caller's company. <c>Users</c> stays unfiltered for sign-in.</summary>
    public IQueryable<User> CompanyUsers => Users.Where(u => u.CompanyId == CompanyId);

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.ApplyConfigurationsFromAssembly(typeof(AppDbContext).Assembly);
        builder.Entity<User>().ToTable("Users");
        builder.Entity<Vehicle>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<OdometerReading>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<Trip>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<EventRecord>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<SyncOperation>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<JournalEntry>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<TripAnnotation>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<ClosedPeriod>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<GapExplanation>().HasQueryFilter(e => e.CompanyId == CompanyId);
        builder.Entity<ReminderSent>().HasQueryFilter(e => e.CompanyId == CompanyId);
    }
}

/// <summary>The company the current unit of work acts for; set from the caller's token, or explicitly by background work.</summary>
public sealed class CompanyScope
{
    public Guid? CompanyId { get; set; }

    /// <summary>
    /// The signed-in caller whose request set the scope, read from its claims once; null where a scope is set without a
    /// request's caller (background work, a live hub command).
    /// </summary>
    public CurrentUser? Caller { get; set; }
}
