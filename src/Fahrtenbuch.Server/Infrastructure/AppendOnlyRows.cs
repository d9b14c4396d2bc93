using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Fahrtenbuch.Server.Infrastructure;

/// <summary>
/// Inserts rows that are written once and never changed (the event log, the logbook journal) with one plain statement in the
/// current transaction, instead of through EF's change tracker. Every logged write appends such rows under the write lock and
/// nothing reads them back through the context, so tracking them (attaching, snapshots, change detection, generating the SQL
/// on every save) was pure cost (docs/benchmarks.md). Table, columns and value conversions come from the EF model, so the rows
/// are exactly what <c>SaveChanges</c> would write, on either provider. Keys are not generated here: the entity sets its own.
/// </summary>
internal static class AppendOnlyRows
{
    /// <summary>A write appends one to a handful of rows; a large sync batch goes out in statements of this many (few parameters, few cached texts).</summary>
    private const int MaxRowsPerStatement = 32;

    private static readonly ConcurrentDictionary<(IModel Model, Type Entity), Shape> Shapes = new();

    public static Task InsertAsync<TEntity>(AppDbContext db, IReadOnlyList<TEntity> rows, CancellationToken cancellationToken)
        where TEntity : class => InsertAsync(db, typeof(TEntity), rows, cancellationToken);

    /// <summary>Inserts <paramref name="rows"/>, all of the entity type mapped to <paramref name="entity"/>.</summary>
    public static async Task InsertAsync(AppDbContext db, Type entity, IReadOnlyList<object> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var transaction = db.Database.CurrentTransaction
            ?? throw new InvalidOperationException("Append-only rows are inserted inside the write's transaction.");
        var shape = Shapes.GetOrAdd((db.Model, entity), static (key, sql) => Shape.Of(key.Model.FindEntityType(key.Entity)!, sql), db.GetService<ISqlGenerationHelper>());
        for (var first = 0; first < rows.Count; first += MaxRowsPerStatement)
        {
            var count = Math.Min(MaxRowsPerStatement, rows.Count - first);
            await using var command = SqliteWriterConnection.Create(db.Database.GetDbConnection(), transaction.GetDbTransaction(), shape.Sql(count));
            for (var row = 0; row < count; row++)
            {
                for (var column = 0; column < shape.Columns.Length; column++)
                {
                    var (property, mapping) = shape.Columns[column];
                    var value = property.GetGetter().GetClrValue(rows[first + row]);
                    if (property.ValueGenerated != ValueGenerated.Never && Equals(value, property.Sentinel))
                    {
                        // SaveChanges would have generated it; here the entity must set it (JournalEntry sets its own id).
                        throw new InvalidOperationException($"{property.DeclaringType.DisplayName()}.{property.Name} is not set; append-only rows must carry every value themselves.");
                    }

                    command.Parameters.Add(mapping.CreateParameter(command, shape.ParameterNames[row, column], value, property.IsNullable));
                }
            }

            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private sealed class Shape(string insertInto, (IProperty Property, RelationalTypeMapping Mapping)[] columns)
    {
        private readonly ConcurrentDictionary<int, string> _sql = new();

        public (IProperty Property, RelationalTypeMapping Mapping)[] Columns { get; } = columns;

        /// <summary>
        /// The parameter of each row and column, named once rather than on every insert, with the <c>@</c> the statement spells
        /// them with: Microsoft.Data.Sqlite looks a name without it up under each of SQLite's three prefixes in turn.
        /// </summary>
        public string[,] ParameterNames { get; } = Names(columns.Length);

        private static string[,] Names(int columns)
        {
            var names = new string[MaxRowsPerStatement, columns];
            for (var row = 0; row < MaxRowsPerStatement; row++)
            {
                for (var column = 0; column < columns; column++)
                {
                    names[row, column] = $"@r{row}_{column}";
                }
            }

            return names;
        }

        public static Shape Of(IEntityType entity, ISqlGenerationHelper sql)
        {
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            var properties = entity.GetProperties().ToArray();

            // Every column's value must come from the object itself: a shadow property would be left out. Such a change to the
            // model is refused on first use, not stored (a key EF would generate is checked per row, below).
            if (properties.FirstOrDefault(p => p.IsShadowProperty()) is { } shadow)
            {
                throw new InvalidOperationException($"{entity.DisplayName()}.{shadow.Name} is a shadow property; append-only rows must carry every value themselves.");
            }

            var insertInto = $"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ("
                + string.Join(", ", properties.Select(p => sql.DelimitIdentifier(p.GetColumnName(table)!))) + ") VALUES ";
            return new Shape(insertInto, [.. properties.Select(p => (p, p.GetRelationalTypeMapping()))]);
        }

        /// <summary>The statement for <paramref name="rows"/> rows, built once per count.</summary>
        public string Sql(int rows) => _sql.GetOrAdd(rows, count =>
        {
            var text = new StringBuilder(insertInto);
            for (var row = 0; row < count; row++)
            {
                text.Append(row == 0 ? "(" : ", (");
                for (var column = 0; column < Columns.Length; column++)
                {
                    text.Append(column == 0 ? "" : ", ").Append(ParameterNames[row, column]);
                }

                text.Append(')');
            }

            return text.ToString();
        });
    }
}
