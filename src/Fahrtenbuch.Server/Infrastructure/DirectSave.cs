using System.Collections.Concurrent;
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
    /// <summary>
    /// Writes the tracked changes. On the SQLite writer connection the change tracker is left as it is: the caller accepts
    /// the changes (<c>AcceptAllChanges</c>) once the write has committed, outside the write lock. Without
    /// <paramref name="detectChanges"/> the entities' states are taken as the change tracker has them: the caller detected
    /// the changes since the last change to an entity.
    /// </summary>
    public static async Task SaveChangesAsync(AppDbContext db, bool detectChanges, CancellationToken cancellationToken)
    {
        if (db.Database.GetDbConnection() is not SqliteWriterConnection || db.Database.CurrentTransaction is not { } transaction)
        {
            await db.SaveChangesAsync(cancellationToken);
            return;
        }

        if (detectChanges)
        {
            db.ChangeTracker.DetectChanges();
        }

        EntityEntry? added = null;
        var modified = new List<EntityEntry>();
        foreach (var entry in db.TrackedEntries<object>())
        {
            switch (entry.State)
            {
                case EntityState.Unchanged or EntityState.Detached:
                    continue;
                case EntityState.Added when added is null && Insertable(db, entry):
                    added = entry;
                    continue;
                case EntityState.Modified when Updatable(db, entry):
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

        foreach (var entry in modified)
        {
            await UpdateAsync(db, transaction.GetDbTransaction(), entry, cancellationToken);
        }
    }

    private static async Task UpdateAsync(AppDbContext db, System.Data.Common.DbTransaction transaction, EntityEntry entry, CancellationToken cancellationToken)
    {
        var shape = ShapeOf(db, entry.Metadata);
        var columns = new List<IProperty>();
        var modified = 0UL;
        foreach (var property in shape.Properties)
        {
            if (entry.Property(property).IsModified)
            {
                columns.Add(property);
                modified |= 1UL << property.GetIndex();
            }
        }

        await using var command = SqliteWriterConnection.Create(db.Database.GetDbConnection(), transaction, shape.UpdateSql(modified, columns));
        for (var i = 0; i < columns.Count; i++)
        {
            command.Parameters.Add(shape.Mappings[columns[i].GetIndex()].CreateParameter(command, ParameterName('p', i), entry.CurrentValues[columns[i]], columns[i].IsNullable));
        }

        for (var i = 0; i < shape.Key.Count; i++)
        {
            command.Parameters.Add(shape.Mappings[shape.Key[i].GetIndex()].CreateParameter(command, ParameterName('k', i), entry.OriginalValues[shape.Key[i]], nullable: false));
        }

        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new DbUpdateConcurrencyException($"The {entry.Metadata.DisplayName()} to update is no longer there.");
        }
    }

    // The parameter names @p0, @p1 … for values and @k0, @k1 … for the key, made once; with the @ the statement spells them
    // with, since Microsoft.Data.Sqlite looks a name without it up under each of SQLite's three prefixes in turn.
    private static readonly string[] ValueNames = [.. Enumerable.Range(0, 64).Select(i => $"@p{i}")];
    private static readonly string[] KeyNames = [.. Enumerable.Range(0, 8).Select(i => $"@k{i}")];

    private static string ParameterName(char prefix, int index)
    {
        var names = prefix == 'p' ? ValueNames : KeyNames;
        return index < names.Length ? names[index] : $"@{prefix}{index}";
    }

    private static Shape ShapeOf(AppDbContext db, IEntityType type) =>
        Shapes.GetOrAdd(type, static (type, sql) => new Shape(type, sql), db.GetService<ISqlGenerationHelper>());

    private static readonly ConcurrentDictionary<IEntityType, Shape> Shapes = new();

    /// <summary>
    /// What a save needs of an entity type, looked up in the model once instead of on every save: whether it is plain, its
    /// columns and value conversions, and the UPDATE statement for each set of modified columns it has had (a handful: the
    /// write path changes the same columns every time).
    /// </summary>
    private sealed class Shape
    {
        private readonly ISqlGenerationHelper _sql;
        private readonly StoreObjectIdentifier _table;
        private readonly string[] _columnNames;
        private readonly ConcurrentDictionary<ulong, string> _updates = new();

        public Shape(IEntityType type, ISqlGenerationHelper sql)
        {
            _sql = sql;
            IsPlain = Plain(type);
            Properties = [.. type.GetProperties()];
            Key = type.FindPrimaryKey()!.Properties;
            var count = Properties.Max(p => p.GetIndex()) + 1;
            Mappings = new RelationalTypeMapping[count];
            _columnNames = new string[count];

            // Only a plain type is saved here; an owned or JSON-mapped one has no column of its own for some properties.
            if (IsPlain)
            {
                var table = type.GetTableName()!;
                _table = StoreObjectIdentifier.Table(table, type.GetSchema());
                foreach (var property in Properties)
                {
                    Mappings[property.GetIndex()] = property.GetRelationalTypeMapping();
                    _columnNames[property.GetIndex()] = sql.DelimitIdentifier(property.GetColumnName(_table)!);
                }
            }
        }

        public bool IsPlain { get; }

        public IProperty[] Properties { get; }

        public IReadOnlyList<IProperty> Key { get; }

        /// <summary>By property index.</summary>
        public RelationalTypeMapping[] Mappings { get; }

        /// <summary>The UPDATE of <paramref name="columns"/> by key; built once per set of columns (up to 64 properties, else every time).</summary>
        public string UpdateSql(ulong modified, List<IProperty> columns) =>
            Properties.Length <= 64 ? _updates.GetOrAdd(modified, static (_, state) => state.Shape.BuildUpdate(state.Columns), (Shape: this, Columns: columns)) : BuildUpdate(columns);

        private string BuildUpdate(List<IProperty> columns)
        {
            var text = new StringBuilder("UPDATE ").Append(_sql.DelimitIdentifier(_table.Name, _table.Schema)).Append(" SET ");
            for (var i = 0; i < columns.Count; i++)
            {
                text.Append(i == 0 ? "" : ", ").Append(_columnNames[columns[i].GetIndex()]).Append(" = ").Append(ParameterName('p', i));
            }

            text.Append(" WHERE ");
            for (var i = 0; i < Key.Count; i++)
            {
                text.Append(i == 0 ? "" : " AND ").Append(_columnNames[Key[i].GetIndex()]).Append(" = ").Append(ParameterName('k', i));
            }

            return text.ToString();
        }
    }

    /// <summary>An entity <see cref="AppendOnlyRows"/> can insert: one table, no owned parts, every value set on the object.</summary>
    private static bool Insertable(AppDbContext db, EntityEntry entry) =>
        ShapeOf(db, entry.Metadata).IsPlain
        && entry.Metadata.GetProperties().All(p => !p.IsShadowProperty() && (p.ValueGenerated == ValueGenerated.Never || !Equals(entry.CurrentValues[p], p.Sentinel)));

    private static bool Updatable(AppDbContext db, EntityEntry entry) =>
        ShapeOf(db, entry.Metadata) is { IsPlain: true } shape && !shape.Key.Any(p => entry.Property(p).IsModified);

    private static bool Plain(IEntityType type) =>
        type.GetTableName() is not null && type.BaseType is null && !type.GetDirectlyDerivedTypes().Any() && !type.IsOwned()
        && !type.GetNavigations().Any(n => n.TargetEntityType.IsOwned()) && !type.GetComplexProperties().Any()
        && !type.GetProperties().Any(p => p.IsConcurrencyToken);
}
