using System.Collections.Concurrent;
using System.Data.Common;
using System.Linq.Expressions;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Query;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// Loads one entity by its id with a plain statement and tracks it, for the two every trip write loads while it holds the
/// write lock (the trip, the vehicle). EF's query pipeline around such a load — the compiled query's per-call setup, the
/// shaper, a delegate built per call — cost several times the statement (docs/benchmarks.md). Columns, value conversions
/// and the object itself come from the EF model (EF's own materializer, so constructors and backing fields are used as
/// EF would), and the entity is attached as unchanged, as a tracking query leaves it.
/// </summary>
/// <remarks>
/// Only for a tenant-owned type in one table with no owned or shadow parts and one query filter, which for such a type is
/// the company's (AppDbContext): the statement filters by the company as that filter does. When a collection navigation
/// has rows (a trip's revisions or annotations), when the entity is already tracked (EF would resolve it to the tracked
/// instance and fix up its includes), and for any other type, the EF query the caller passes runs instead: the result is
/// the same either way. Otherwise every collection is reported as loaded (and empty), so the caller's query must include
/// them all (the trip's does: revisions explicitly, annotations automatically).
/// </remarks>
internal static class PlainEntities
{
    public static async Task<T?> FindAsync<T>(
        AppDbContext db, Guid id, Func<AppDbContext, Guid, CancellationToken, Task<T?>> query, CancellationToken cancellationToken)
        where T : class
    {
        var shape = Shapes.GetOrAdd(db.Model.FindEntityType(typeof(T))!, static (type, db) => new Shape(type, db), db);
        if (!shape.IsPlain || IsTracked<T>(db, shape, id))
        {
            return await query(db, id, cancellationToken);
        }

        var values = new object?[shape.ValueCount];
        await using (var select = (await PlainQuery.CreateAsync(db, shape.Sql, cancellationToken)).Id("@id", id).Id("@company", db.CompanyId))
        {
            await using var reader = await select.ReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            if (shape.Collections.Length > 0 && reader.GetBoolean(shape.Columns.Length))
            {
                values = null;
            }
            else
            {
                for (var i = 0; i < shape.Columns.Length; i++)
                {
                    values[shape.Columns[i].Index] = shape.Columns[i].Read(reader, i);
                }
            }
        }

        if (values is null)
        {
            // Revisions or annotations to load with it: rare, and EF's include does that.
            return await query(db, id, cancellationToken);
        }

        var entity = (T)shape.Materialize(new MaterializationContext(new ValueBuffer(values), db));
        var entry = db.Attach(entity);
        foreach (var collection in shape.Collections)
        {
            entry.Collection(collection).IsLoaded = true;
        }

        return entity;
    }

    private static bool IsTracked<T>(AppDbContext db, Shape shape, Guid id) where T : class
    {
        foreach (var entry in db.TrackedEntries<T>())
        {
            if (shape.Key.GetGetter().GetClrValue(entry.Entity) is Guid key && key == id)
            {
                return true;
            }
        }

        return false;
    }

    private static readonly ConcurrentDictionary<IEntityType, Shape> Shapes = new();

    /// <summary>What loading an entity type needs, looked up in the model once: the statement, a reader per column, the materializer.</summary>
    private sealed class Shape
    {
        public Shape(IEntityType type, AppDbContext db)
        {
            var properties = type.GetProperties().ToList();
            Key = type.FindPrimaryKey()?.Properties[0]!;
            ValueCount = properties.Max(p => p.GetIndex()) + 1;
            Collections = [.. type.GetNavigations().Where(n => n.IsCollection).Select(n => n.Name)];
            IsPlain = typeof(ITenantOwned).IsAssignableFrom(type.ClrType)
                && type.GetTableName() is not null && type.GetViewName() is null && type.GetSqlQuery() is null && type.GetFunctionName() is null
                && !type.GetMappingFragments().Any() && type.GetDeclaredQueryFilters().Count == 1
                && type.BaseType is null && !type.GetDirectlyDerivedTypes().Any() && !type.IsOwned()
                && !type.GetComplexProperties().Any() && !type.GetSkipNavigations().Any()
                && type.FindPrimaryKey()?.Properties is [{ ClrType: var keyType }] && keyType == typeof(Guid)
                && properties.All(p => !p.IsShadowProperty())
                && type.GetNavigations().All(n => n.IsCollection && !n.TargetEntityType.IsOwned() && n.ForeignKey.Properties.Count == 1);
            if (!IsPlain)
            {
                Sql = "";
                Columns = [];
                Materialize = _ => throw new InvalidOperationException();
                return;
            }

            var sql = db.GetService<ISqlGenerationHelper>();
            var table = StoreObjectIdentifier.Table(type.GetTableName()!, type.GetSchema());
            string Column(IProperty property) => sql.DelimitIdentifier(property.GetColumnName(table)!);

            Columns = [.. properties.Select(p => new ColumnReader(p.GetIndex(), ReaderOf(p.GetRelationalTypeMapping())))];
            var text = new StringBuilder("SELECT ").AppendJoin(", ", properties.Select(p => "t." + Column(p)));
            if (Collections.Length > 0)
            {
                // Whether any collection has rows, in the same statement (each by its foreign key's index).
                text.Append(", ").AppendJoin(" OR ", type.GetNavigations().Select(n =>
                {
                    var dependent = n.ForeignKey.DeclaringEntityType;
                    var dependentTable = StoreObjectIdentifier.Table(dependent.GetTableName()!, dependent.GetSchema());
                    return $"EXISTS (SELECT 1 FROM {sql.DelimitIdentifier(dependentTable.Name, dependentTable.Schema)} "
                        + $"WHERE {sql.DelimitIdentifier(n.ForeignKey.Properties[0].GetColumnName(dependentTable)!)} = t.{Column(n.ForeignKey.PrincipalKey.Properties[0])})";
                }));
            }

            text.Append(" FROM ").Append(sql.DelimitIdentifier(table.Name, table.Schema)).Append(" AS t WHERE t.").Append(Column(Key))
                .Append(" = @id AND t.").Append(Column(type.FindProperty(nameof(ITenantOwned.CompanyId))!)).Append(" = @company");
            Sql = text.ToString();
            Materialize = db.GetService<IStructuralTypeMaterializerSource>().GetMaterializer(type);
        }

        public bool IsPlain { get; }

        public string Sql { get; }

        public IProperty Key { get; }

        public int ValueCount { get; }

        /// <summary>In the statement's order; each knows the property index its value goes to in the value buffer.</summary>
        public ColumnReader[] Columns { get; }

        public string[] Collections { get; }

        public Func<MaterializationContext, object> Materialize { get; }
    }

    private sealed record ColumnReader(int Index, Func<DbDataReader, int, object?> Read);

    /// <summary>
    /// Reads a column as EF's shaper does for this mapping: the provider's reader method, the mapping's own adjustment, then the
    /// model's value conversion; compiled once per property.
    /// </summary>
    private static Func<DbDataReader, int, object?> ReaderOf(RelationalTypeMapping mapping)
    {
        var reader = Expression.Parameter(typeof(DbDataReader), "reader");
        var ordinal = Expression.Parameter(typeof(int), "ordinal");
        var method = mapping.GetDataReaderMethod();
        Expression value = mapping.CustomizeDataReaderExpression(
            Expression.Call(method.DeclaringType == typeof(DbDataReader) ? reader : Expression.Convert(reader, method.DeclaringType!), method, ordinal));
        var providerType = mapping.Converter?.ProviderClrType ?? mapping.ClrType;
        if (value.Type != providerType)
        {
            value = Expression.Convert(value, providerType);
        }

        if (mapping.Converter is { } converter)
        {
            var fromProvider = converter.ConvertFromProviderExpression;
            value = ReplacingExpressionVisitor.Replace(fromProvider.Parameters[0], value, fromProvider.Body);
        }

        var body = Expression.Condition(
            Expression.Call(reader, typeof(DbDataReader).GetMethod(nameof(DbDataReader.IsDBNull))!, ordinal),
            Expression.Constant(null, typeof(object)),
            Expression.Convert(value, typeof(object)));
        return Expression.Lambda<Func<DbDataReader, int, object?>>(body, reader, ordinal).Compile();
    }
}
