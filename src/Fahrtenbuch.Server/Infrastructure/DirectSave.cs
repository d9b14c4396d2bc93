using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// Saves a logged write's tracked changes on the SQLite writer connection with plain statements instead of EF's update
/// pipeline, which sorts the commands by their dependencies, batches them and generates their SQL again for every save: on
/// the write path, under the write lock, that was the largest single part (docs/benchmarks.md). Statements carry the EF
/// model's tables, columns and value conversions, like <see cref="AppendOnlyRows"/>.
/// </summary>
/// <remarks>
/// Only the shapes a logged write usually has: at most one inserted entity whose every value is on the object, and updates
/// of the modified columns by key. Anything else — deletes, owned or JSON-mapped types, inheritance, concurrency tokens,
/// several inserts that may depend on each other, a modified key — and any other provider go through <c>SaveChanges</c>.
/// </remarks>
internal static class DirectSave
{
    public static async Task SaveChangesAsync(AppDbContext db, CancellationToken cancellationToken)
    {
        if (db.Database.GetDbConnection() is not SqliteWriterConnection || db.Database.CurrentTransaction is not { } transaction)
        {
            await db.SaveChangesAsync(cancellationToken);
            return;
        }

        db.ChangeTracker.DetectChanges();
        EntityEntry? added = null;
        var modified = new List<EntityEntry>();
        foreach (var entry in db.TrackedEntries<object>())
        {
            switch (entry.State)
            {
                case EntityState.Unchanged or EntityState.Detached:
                    continue;
                case EntityState.Added when added is null && Insertable(entry):
                    added = entry;
                    continue;
                case EntityState.Modified when Updatable(entry):
                    modified.Add(entry);
                    continue;
                default:
                    await db.SaveChangesAsync(cancellationToken);
                    return;
            }
        }

        if (added is not null)
        {
            // First: an update may point at the new row (a vehicle's active trip).
            await AppendOnlyRows.InsertAsync(db, added.Metadata.ClrType, [added.Entity], cancellationToken);
        }

        var sql = db.GetService<ISqlGenerationHelper>();
        foreach (var entry in modified)
        {
            await UpdateAsync(db, transaction.GetDbTransaction(), sql, entry, cancellationToken);
        }

        db.ChangeTracker.AcceptAllChanges();
    }

    private static async Task UpdateAsync(AppDbContext db, System.Data.Common.DbTransaction transaction, ISqlGenerationHelper sql, EntityEntry entry, CancellationToken cancellationToken)
    {
        var type = entry.Metadata;
        var table = StoreObjectIdentifier.Table(type.GetTableName()!, type.GetSchema());
        var columns = entry.Properties.Where(p => p.IsModified).Select(p => p.Metadata).ToList();
        var key = type.FindPrimaryKey()!.Properties;

        var text = new StringBuilder("UPDATE ").Append(sql.DelimitIdentifier(table.Name, table.Schema)).Append(" SET ");
        for (var i = 0; i < columns.Count; i++)
        {
            text.Append(i == 0 ? "" : ", ").Append(sql.DelimitIdentifier(columns[i].GetColumnName(table)!)).Append(" = @p").Append(i);
        }

        text.Append(" WHERE ");
        for (var i = 0; i < key.Count; i++)
        {
            text.Append(i == 0 ? "" : " AND ").Append(sql.DelimitIdentifier(key[i].GetColumnName(table)!)).Append(" = @k").Append(i);
        }

        await using var command = SqliteWriterConnection.Create(db.Database.GetDbConnection(), transaction, text.ToString());
        for (var i = 0; i < columns.Count; i++)
        {
            command.Parameters.Add(columns[i].GetRelationalTypeMapping().CreateParameter(command, $"p{i}", entry.CurrentValues[columns[i]], columns[i].IsNullable));
        }

        for (var i = 0; i < key.Count; i++)
        {
            command.Parameters.Add(key[i].GetRelationalTypeMapping().CreateParameter(command, $"k{i}", entry.OriginalValues[key[i]], nullable: false));
        }

        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new DbUpdateConcurrencyException($"The {type.DisplayName()} to update is no longer there.");
        }
    }

    /// <summary>An entity <see cref="AppendOnlyRows"/> can insert: one table, no owned parts, every value set on the object.</summary>
    private static bool Insertable(EntityEntry entry) =>
        Plain(entry.Metadata)
        && entry.Metadata.GetProperties().All(p => !p.IsShadowProperty() && (p.ValueGenerated == ValueGenerated.Never || !Equals(entry.CurrentValues[p], p.Sentinel)));

    private static bool Updatable(EntityEntry entry) =>
        Plain(entry.Metadata) && !entry.Metadata.FindPrimaryKey()!.Properties.Any(p => entry.Property(p.Name).IsModified);

    private static bool Plain(IEntityType type) =>
        type.GetTableName() is not null && type.BaseType is null && !type.GetDirectlyDerivedTypes().Any() && !type.IsOwned()
        && !type.GetNavigations().Any(n => n.TargetEntityType.IsOwned()) && !type.GetComplexProperties().Any()
        && !type.GetProperties().Any(p => p.IsConcurrencyToken);
}
