using System.Globalization;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Security;
using System.Text;
using System.Text.Json;
using CsvHelper;
using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>
/// The logbook of one vehicle and period as PDF (closed form), CSV and JSON (data access for the tax auditor,
/// § 147 AO) and Excel. Output is written to the response as it is produced (chunked, no Content-Length);
/// <c>X-Export-Rows</c> announces how many records follow, so a client can show real progress (docs/logbook.md).
/// </summary>
public static class ExportEndpoints
{
    private static readonly string[] Columns =
    [
        "RowType", "No", "TripId", "Date", "StartTime", "EndTime", "StartOdometer", "EndOdometer", "Km", "StartPlace", "EndPlace", "Destination", "Purpose",
        "BusinessPartner", "Category", "TaxCategory", "Driver", "State", "EnteredLate", "RecordedAt", "LockedAt", "Restricted",
        "ChangeNo", "ChangedAt", "ChangedBy", "Reason", "Field", "OldValue", "NewValue", "Text", "JournalHash", "JournalFingerprint",
    ];

    /// <summary>Records the body will hold, counted before the first byte: CSV and xlsx data lines, JSON and PDF logbook rows.</summary>
    public const string RowsHeader = "X-Export-Rows";

    public static RouteGroupBuilder MapLogbookExports(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/vehicles/{id:guid}").WithTags("Logbook").RequireAuthorization();
        group.MapGet("/logbook.{format}", Export);
        return group;
    }

    /// <summary>Exports the vehicle's logbook for <c>from</c>..<c>to</c> (dates, inclusive; default: this year) as pdf, csv, json or xlsx.</summary>
    public static async Task Export(
        HttpContext context, Guid id, string format, CurrentUser me, AppDbContext db, JournalVerifier verifier, IOptions<LogbookOptions> options, TimeProvider time,
        DateOnly? from = null, DateOnly? to = null)
    {
        // A company car's driver carries the logbook to their own tax return, so they may export their car's logbook too.
        if (!me.SeesWholeCompany && !await db.Vehicles.AnyAsync(v => v.Id == id && v.AssignedDriverId == me.Id, context.RequestAborted))
        {
            throw DomainException.Forbidden("export.forbidden", "Only fleet managers, auditors and the driver a company car is assigned to export its logbook.");
        }

        format = format.ToLowerInvariant();
        if (format is not ("pdf" or "csv" or "json" or "xlsx"))
        {
            throw DomainException.NotFound("export-format");
        }

        var now = time.GetUtcNow();
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, options.Value.Zone).DateTime);
        var first = from ?? new DateOnly(today.Year, 1, 1);
        var last = to ?? today;
        if (first > last || last.DayNumber - first.DayNumber > 3700)
        {
            throw DomainException.Invalid("export.period-invalid", "The period must have from ≤ to and span at most ten years.");
        }

        var cancellationToken = context.RequestAborted;
        var document = await LogbookDocument.LoadAsync(db, verifier, me, id, first, last, options.Value, now, cancellationToken);
        var response = context.Response;
        // Plates may hold umlauts (LÖ, MÜ): filename* carries the UTF-8 name, filename an ASCII fallback; a raw non-ASCII header would fail.
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName($"fahrtenbuch-{document.Header.Plate.Replace(' ', '-')}-{first:yyyy-MM-dd}-{last:yyyy-MM-dd}.{format}");
        response.Headers.ContentDisposition = disposition.ToString();
        // CSV and Excel lines are built once here: counted for the header, then written.
        var records = format is "csv" or "xlsx" ? Records(document).ToList() : null;
        response.Headers[RowsHeader] = (records?.Count ?? document.Rows.Count).ToString(CultureInfo.InvariantCulture);
        response.Headers["X-Journal-Fingerprint"] = document.Header.Fingerprint ?? "";
        response.Headers.CacheControl = "no-store";
        switch (format)
        {
            case "csv":
                response.ContentType = "text/csv; charset=utf-8";
                await WriteCsvAsync(response.Body, records!, cancellationToken);
                break;
            case "json":
                response.ContentType = "application/json; charset=utf-8";
                await WriteJsonAsync(response.BodyWriter, document, cancellationToken);
                break;
            case "xlsx":
                response.ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
                await StreamSynchronousAsync(response.Body, stream => WriteXlsx(stream, records!), cancellationToken);
                break;
            default:
                response.ContentType = "application/pdf";
                await StreamSynchronousAsync(response.Body, stream => LogbookPdf.Write(stream, document), cancellationToken);
                break;
        }
    }

    /// <summary>Runs a writer that can only write synchronously (Skia, ZipArchive) on a worker thread and copies its output to the response as it comes.</summary>
    private static async Task StreamSynchronousAsync(Stream body, Action<Stream> write, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
        var producer = Task.Run(async () =>
        {
            try
            {
                using (var stream = new CountingStream(pipe.Writer.AsStream(leaveOpen: true)))
                {
                    write(stream);
                }

                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
            }
        }, cancellationToken);
        try
        {
            await pipe.Reader.CopyToAsync(body, cancellationToken);
        }
        finally
        {
            await pipe.Reader.CompleteAsync();
            await producer;
        }
    }

    private static IEnumerable<string?[]> Records(LogbookDocument document)
    {
        var h = document.Header;
        foreach (var r in document.Rows)
        {
            string?[] Line(string type, string? changeNo = null, DateTimeOffset? changedAt = null, string? changedBy = null, string? reason = null,
                string? field = null, string? oldValue = null, string? newValue = null, string? text = null) =>
            [
                type, r.Number?.ToString(CultureInfo.InvariantCulture), r.TripId?.ToString(), document.Local(r.StartedAt, "yyyy-MM-dd"),
                document.Local(r.StartedAt, "HH:mm"), document.Local(r.EndedAt, "HH:mm"), r.StartOdometer?.ToString(CultureInfo.InvariantCulture),
                r.EndOdometer?.ToString(CultureInfo.InvariantCulture), r.Km?.ToString(CultureInfo.InvariantCulture), r.StartPlace, r.EndPlace, r.Destination, r.Purpose,
                r.BusinessPartner, Kebab(r.Category), Kebab(r.TaxCategory), r.Driver, Kebab(r.State), r.Kind == "trip" ? (r.EnteredLate ? "true" : "false") : null,
                JournalFormat.Time(r.RecordedAt), JournalFormat.Time(r.LockedAt), r.Kind == "trip" ? (r.Restricted ? "true" : "false") : null,
                changeNo, JournalFormat.Time(changedAt), changedBy, reason, field, oldValue, newValue, text ?? r.Note, r.JournalHash, h.Fingerprint,
            ];

            yield return Line(r.Kind);
            if (r.State is Trips.TripState.Voided or Trips.TripState.Cancelled)
            {
                yield return Line(r.State == Trips.TripState.Voided ? "void" : "cancel", changedAt: r.ClosedAt, changedBy: r.ClosedByName, reason: r.VoidOrCancelReason);
            }

            foreach (var revision in r.Revisions)
            {
                foreach (var change in revision.Changes)
                {
                    yield return Line("correction", revision.Number.ToString(CultureInfo.InvariantCulture), revision.ChangedAt, revision.ChangedByName, revision.Reason,
                        change.Field, change.OldValue, change.NewValue);
                }
            }

            foreach (var annotation in r.Annotations)
            {
                yield return Line("annotation", annotation.Number.ToString(CultureInfo.InvariantCulture), annotation.CreatedAt, annotation.CreatedByName, text: annotation.Text);
            }
        }
    }

    private static string? Kebab<T>(T? value)
        where T : struct, Enum => value?.ToString().ToLowerInvariant();

    private static async Task WriteCsvAsync(Stream body, List<string?[]> records, CancellationToken cancellationToken)
    {
        // Values stay exactly as recorded (no formula escaping): this file is data for the auditor's software, not a spreadsheet.
        await using var csv = CsvWriter.Create(body, new CsvWriterOptions { Separator = ';', WriteByteOrderMark = true }, leaveOpen: true);
        foreach (var column in Columns)
        {
            csv.WriteField(column);
        }

        await csv.EndRecordAsync(cancellationToken);
        var written = 0;
        foreach (var record in records)
        {
            foreach (var field in record)
            {
                csv.WriteField(field ?? "");
            }

            await csv.EndRecordAsync(cancellationToken);
            if (++written % 200 == 0)
            {
                await csv.FlushAsync(cancellationToken);
            }
        }

        await csv.FlushAsync(cancellationToken);
    }

    private static async Task WriteJsonAsync(PipeWriter body, LogbookDocument document, CancellationToken cancellationToken)
    {
        // Writing into the response's PipeWriter keeps every write asynchronous; each flush sends what is ready.
        await using var json = new Utf8JsonWriter(body, new JsonWriterOptions { Indented = false });
        json.WriteStartObject();
        json.WritePropertyName("header");
        JsonSerializer.Serialize(json, document.Header, ApiJson.Options);
        json.WritePropertyName("totals");
        JsonSerializer.Serialize(json, document.Totals, ApiJson.Options);
        json.WriteStartArray("rows");
        var written = 0;
        foreach (var row in document.Rows)
        {
            JsonSerializer.Serialize(json, row, ApiJson.Options);
            if (++written % 100 == 0)
            {
                json.Flush();
                await body.FlushAsync(cancellationToken);
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        await body.FlushAsync(cancellationToken);
    }

    /// <summary>A minimal SpreadsheetML workbook (one sheet, inline strings, bold header), written directly into a zip stream.</summary>
    private static void WriteXlsx(Stream output, List<string?[]> records)
    {
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        void Part(string name, string xml)
        {
            using var writer = new StreamWriter(zip.CreateEntry(name, CompressionLevel.Fastest).Open(), new UTF8Encoding(false));
            writer.Write(xml);
        }

        Part("[Content_Types].xml", """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>""");
        Part("_rels/.rels", """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>""");
        Part("xl/workbook.xml", """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Fahrtenbuch" sheetId="1" r:id="rId1"/></sheets></workbook>""");
        Part("xl/_rels/workbook.xml.rels", """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>""");
        Part("xl/styles.xml", """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf fontId="0"/><xf fontId="1" applyFont="1"/></cellXfs></styleSheet>""");

        using var sheet = new StreamWriter(zip.CreateEntry("xl/worksheets/sheet1.xml", CompressionLevel.Fastest).Open(), new UTF8Encoding(false));
        sheet.Write("""<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>""");
        var numeric = new HashSet<int> { 1, 6, 7, 8 };
        sheet.Write("<row>");
        foreach (var column in Columns)
        {
            sheet.Write($"<c t=\"inlineStr\" s=\"1\"><is><t>{column}</t></is></c>");
        }

        sheet.Write("</row>");
        foreach (var record in records)
        {
            sheet.Write("<row>");
            for (var i = 0; i < record.Length; i++)
            {
                var value = record[i];
                if (string.IsNullOrEmpty(value))
                {
                    sheet.Write("<c/>");
                }
                else if (numeric.Contains(i))
                {
                    sheet.Write($"<c><v>{value}</v></c>");
                }
                else
                {
                    sheet.Write($"<c t=\"inlineStr\"><is><t xml:space=\"preserve\">{SecurityElement.Escape(value)}</t></is></c>");
                }
            }

            sheet.Write("</row>");
        }

        sheet.Write("</sheetData></worksheet>");
    }

    /// <summary>
    /// A write-only stream that knows how much it has written: Skia's PDF writer and ZipArchive ask for
    /// <see cref="Position"/>, which a pipe cannot answer (and an exception inside Skia's native callback would end the process).
    /// </summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _written;

        public override long Position
        {
            get => _written;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            _written += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _written += buffer.Length;
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
