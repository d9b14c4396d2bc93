using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Xml.Linq;
using UglyToad.PdfPig;
using static Fahrtenbuch.Server.Tests.LogbookDriving;

namespace Fahrtenbuch.Server.Tests;

/// <summary>One vehicle's March 2025 with every kind of entry, exported once per format.</summary>
public sealed class ExportScenario : AppFactory
{
    public static readonly DateTimeOffset March = new(2025, 3, 3, 7, 30, 0, TimeSpan.Zero);

    private readonly SemaphoreSlim _once = new(1, 1);
    private Guid? _vehicle;

    /// <summary>The scenario's vehicle, after the trips are recorded (once per class).</summary>
    public async Task<Guid> VehicleAsync()
    {
        await _once.WaitAsync();
        try
        {
            _vehicle ??= await CreateScenarioAsync();
            return _vehicle.Value;
        }
        finally
        {
            _once.Release();
        }
    }

    public const string Period = "from=2025-03-01&to=2025-03-31";

    private async Task<Guid> CreateScenarioAsync()
    {
        var anna = await LoginAsync("anna@demo.local");
        var chef = await LoginAsync("chef@demo.local");
        var vehicle = await LogbookDriving.VehicleAsync(anna, "M FB 1003");
        var odometer = 23_870;
        var corrected = await RecordAsync(anna, vehicle, March, odometer, 57, purpose: "Angebot besprechen", partner: "Stadtwerke Freising", destination: "Freising, Rathausplatz 2");
        odometer += 57;
        var voided = await RecordAsync(anna, vehicle, March.AddDays(1), odometer, 12, purpose: "Doppelt erfasst", partner: "Niemand", destination: "Garching");
        await RecordAsync(anna, vehicle, March.AddDays(1).AddHours(3), odometer, 14, category: "private", purpose: null, partner: null, destination: "Ammersee Badestelle");
        odometer += 14;
        await RecordAsync(anna, vehicle, March.AddDays(2), odometer, 23, category: "commute", purpose: null, partner: null, destination: "Büro München");
        odometer += 23 + 31; // 31 km nobody recorded
        for (var i = 0; i < 40; i++)
        {
            await RecordAsync(anna, vehicle, March.AddDays(3).AddHours(i * 4), odometer, 18 + (i % 7), purpose: $"Wartungseinsatz {i + 1}", partner: $"Kunde {i + 1} GmbH", destination: $"Dachau, Werk {i + 1}");
            odometer += 18 + (i % 7);
        }

        (await chef.PostAsJsonAsync($"/api/trips/{corrected}/revisions", new { reason = "Zweck präzisiert", purpose = "Angebot Straßenbeleuchtung" })).EnsureSuccessStatusCode();
        (await anna.PostAsJsonAsync($"/api/trips/{voided}/void", new { reason = "Fahrt doppelt erfasst" })).EnsureSuccessStatusCode();
        (await anna.PostAsJsonAsync($"/api/trips/{corrected}/annotations", new { text = "Parkgebühr 4,50 € nachgereicht" })).EnsureSuccessStatusCode();
        return vehicle;
    }
}

public sealed class ExportTests(ExportScenario app) : IClassFixture<ExportScenario>
{
    [Fact]
    public async Task Pdf_ContainsEveryRequiredField_TheCorrections_AndTheFingerprintOnEveryPage()
    {
        var vehicle = await app.VehicleAsync();
        var chef = await app.LoginAsync("chef@demo.local");
        var fingerprint = (await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("fingerprint").GetString()!;
        var response = await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.pdf?{ExportScenario.Period}", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pdf", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(response.Content.Headers.ContentLength);
        var bytes = await response.Content.ReadAsByteArrayAsync(Ct);

        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        var pdfPath = Path.Combine(artifacts, "logbook.pdf");
        await File.WriteAllBytesAsync(pdfPath, bytes, Ct);

        using var pdf = PdfDocument.Open(bytes);
        Assert.True(pdf.NumberOfPages >= 2, $"expected several pages, got {pdf.NumberOfPages}");
        var pages = pdf.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))).ToList();
        for (var i = 0; i < pages.Count; i++)
        {
            Assert.Contains(fingerprint, pages[i], StringComparison.Ordinal);
            Assert.Contains($"Seite {i + 1} von {pages.Count}", pages[i], StringComparison.Ordinal);
            Assert.Contains("Zweck", pages[i], StringComparison.Ordinal);
        }

        var all = string.Join(" ", pages);
        foreach (var expected in new[]
        {
            "Datum", "Uhrzeit", "08:30–09:30", "Anfangs-km", "End-km", "Route", "Geschäftspartner", "Kategorie", "Fahrer/in", "M FB 1003", "Demo Fuhrpark GmbH",
            "03.03.2025", "23.870", "23.927", "Stadtwerke Freising", "Freising, Rathausplatz 2", "Anna Albers", "geschäftlich", "Arbeitsweg",
            "Korrektur", "„Angebot besprechen“", "„Angebot Straßenbeleuchtung“", "Zweck präzisiert", "Christa Chef",
            "STORNIERT", "Fahrt doppelt erfasst", "Nachtrag", "Parkgebühr 4,50 € nachgereicht", "nachgetragen",
            "Nicht erfasste Kilometer", "31 km", "Summen", "Gesamt km",
        })
        {
            Assert.True(all.Contains(expected, StringComparison.Ordinal), $"The PDF lacks \"{expected}\".");
        }

        Assert.DoesNotContain("Ammersee", all, StringComparison.Ordinal);
        Assert.Contains("privat – nur km", all, StringComparison.Ordinal);

        var png = Path.Combine(artifacts, "logbook-page1");
        if (!File.Exists("/usr/bin/pdftoppm"))
        {
            Assert.Skip("pdftoppm is not installed (scripts/test.sh installs poppler-utils); the PDF was checked, not rendered.");
        }

        using var render = Process.Start(new ProcessStartInfo("pdftoppm", ["-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", pdfPath, png]))!;
        await render.WaitForExitAsync(Ct);
        Assert.Equal(0, render.ExitCode);
        Assert.True(new FileInfo(png + ".png").Length > 10_000);
        TestContext.Current.SendDiagnosticMessage($"Rendered first page: {png}.png");
    }

    [Fact]
    public async Task Csv_ContainsEveryRequiredField_TheCorrections_AndTheFingerprint()
    {
        var vehicle = await app.VehicleAsync();
        var chef = await app.LoginAsync("chef@demo.local");
        var fingerprint = (await JsonAsync(chef, $"/api/vehicles/{vehicle}/journal/verify")).GetProperty("fingerprint").GetString()!;
        var response = await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?{ExportScenario.Period}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(fingerprint, response.Headers.GetValues("X-Journal-Fingerprint").Single());
        var rows = ParseCsv(Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync(Ct)).TrimStart('\uFEFF'));
        var header = rows[0];
        foreach (var column in new[] { "Date", "StartTime", "EndTime", "StartOdometer", "EndOdometer", "Km", "Destination", "Purpose", "BusinessPartner", "Category", "Driver", "JournalFingerprint" })
        {
            Assert.Contains(column, header);
        }

        var records = rows.Skip(1).Select(r => header.Zip(r).ToDictionary(p => p.First, p => p.Second)).ToList();
        Assert.All(records, r => Assert.Equal(fingerprint, r["JournalFingerprint"]));
        var first = records.First(r => r["RowType"] == "trip");
        Assert.Equal(("2025-03-03", "08:30", "09:30", "23870", "23927", "57"), (first["Date"], first["StartTime"], first["EndTime"], first["StartOdometer"], first["EndOdometer"], first["Km"]));
        Assert.Equal(("Freising, Rathausplatz 2", "Angebot Straßenbeleuchtung", "Stadtwerke Freising", "business", "Anna Albers"),
            (first["Destination"], first["Purpose"], first["BusinessPartner"], first["Category"], first["Driver"]));
        Assert.Equal(64, first["JournalHash"].Length);
        var correction = Assert.Single(records, r => r["RowType"] == "correction");
        Assert.Equal(("purpose", "Angebot besprechen", "Angebot Straßenbeleuchtung", "Zweck präzisiert", "Christa Chef"),
            (correction["Field"], correction["OldValue"], correction["NewValue"], correction["Reason"], correction["ChangedBy"]));
        Assert.Equal("Fahrt doppelt erfasst", Assert.Single(records, r => r["RowType"] == "void")["Reason"]);
        Assert.Equal("Parkgebühr 4,50 € nachgereicht", Assert.Single(records, r => r["RowType"] == "annotation")["Text"]);
        Assert.Equal("31", Assert.Single(records, r => r["RowType"] == "gap")["Km"]);
        Assert.All(records.Where(r => r["RowType"] == "trip"), r => Assert.Equal("true", r["EnteredLate"]));
        var privateTrip = Assert.Single(records, r => r["Category"] == "private");
        Assert.Equal(("", "true", "14"), (privateTrip["Destination"], privateTrip["Restricted"], privateTrip["Km"]));
    }

    [Fact]
    public async Task JsonAndXlsx_CarryTheSameRows_AndTheFingerprint()
    {
        var vehicle = await app.VehicleAsync();
        var auditor = await app.LoginAsync("pruefer@demo.local");
        var json = await JsonAsync(auditor, $"/api/vehicles/{vehicle}/logbook.json?{ExportScenario.Period}");
        var fingerprint = json.GetProperty("header").GetProperty("fingerprint").GetString();
        Assert.True(json.GetProperty("header").GetProperty("journalValid").GetBoolean());
        Assert.Equal(44, json.GetProperty("rows").EnumerateArray().Count(r => r.GetProperty("kind").GetString() == "trip"));
        Assert.Equal(31, json.GetProperty("totals").GetProperty("unrecordedKm").GetInt32());
        Assert.Equal(23, json.GetProperty("totals").GetProperty("commuteKm").GetInt32());

        var xlsx = await auditor.GetAsync($"/api/vehicles/{vehicle}/logbook.xlsx?{ExportScenario.Period}", Ct);
        Assert.Equal(HttpStatusCode.OK, xlsx.StatusCode);
        using var zip = new ZipArchive(new MemoryStream(await xlsx.Content.ReadAsByteArrayAsync(Ct)));
        await using var sheetStream = await zip.GetEntry("xl/worksheets/sheet1.xml")!.OpenAsync(Ct);
        var sheet = await XDocument.LoadAsync(sheetStream, LoadOptions.None, Ct);
        var text = sheet.ToString();
        Assert.Contains("Angebot Straßenbeleuchtung", text, StringComparison.Ordinal);
        Assert.Contains(fingerprint!, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_RefusesBadRequests_WithAStableCode()
    {
        var vehicle = await app.VehicleAsync();
        var chef = await app.LoginAsync("chef@demo.local");
        await ProblemAssert.IsProblemAsync(await app.CreateClient().GetAsync($"/api/vehicles/{vehicle}/logbook.pdf", Ct), HttpStatusCode.Unauthorized, "auth.unauthenticated");
        var other = await app.LoginAsync("chef@zweite.local");
        await ProblemAssert.IsProblemAsync(await other.GetAsync($"/api/vehicles/{vehicle}/logbook.csv", Ct), HttpStatusCode.NotFound, "vehicle.not-found");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.docx", Ct), HttpStatusCode.NotFound, "export-format.not-found");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?from=2025-04-01&to=2025-03-01", Ct), HttpStatusCode.UnprocessableEntity, "export.period-invalid");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?from=gestern", Ct), HttpStatusCode.BadRequest, "request.malformed");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?from=2025-03-01&to=2025-02-30", Ct), HttpStatusCode.BadRequest, "request.malformed");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?from=2010-01-01&to=2025-03-01", Ct), HttpStatusCode.UnprocessableEntity, "export.period-invalid");
        await ProblemAssert.IsProblemAsync(await chef.GetAsync($"/api/vehicles/{Guid.NewGuid()}/logbook.json", Ct), HttpStatusCode.NotFound, "vehicle.not-found");
    }

    [Fact]
    public async Task Export_AnnouncesItsRecordCount_BeforeStreaming_InEveryFormat()
    {
        var vehicle = await app.VehicleAsync();
        var auditor = await app.LoginAsync("pruefer@demo.local");
        async Task<(HttpResponseMessage Response, int Rows, byte[] Body)> ExportAsync(string format)
        {
            var response = await auditor.GetAsync($"/api/vehicles/{vehicle}/logbook.{format}?{ExportScenario.Period}", HttpCompletionOption.ResponseHeadersRead, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Null(response.Content.Headers.ContentLength);
            var rows = int.Parse(Assert.Single(response.Headers.GetValues("X-Export-Rows")), System.Globalization.CultureInfo.InvariantCulture);
            return (response, rows, await response.Content.ReadAsByteArrayAsync(Ct));
        }

        var csv = await ExportAsync("csv");
        Assert.Equal(ParseCsv(Encoding.UTF8.GetString(csv.Body).TrimStart('\uFEFF')).Count - 1, csv.Rows);
        Assert.Equal("fahrtenbuch-M-FB-1003-2025-03-01-2025-03-31.csv", csv.Response.Content.Headers.ContentDisposition?.FileNameStar);
        Assert.Equal("attachment", csv.Response.Content.Headers.ContentDisposition?.DispositionType);

        var json = await ExportAsync("json");
        Assert.Equal(System.Text.Json.JsonDocument.Parse(json.Body).RootElement.GetProperty("rows").GetArrayLength(), json.Rows);
        Assert.True(json.Rows < csv.Rows, "JSON nests corrections, voids and annotations in their row; CSV gives each its own line.");

        var xlsx = await ExportAsync("xlsx");
        using var zip = new ZipArchive(new MemoryStream(xlsx.Body));
        await using var sheetStream = await zip.GetEntry("xl/worksheets/sheet1.xml")!.OpenAsync(Ct);
        var sheet = await XDocument.LoadAsync(sheetStream, LoadOptions.None, Ct);
        Assert.Equal(sheet.Descendants().Count(e => e.Name.LocalName == "row") - 1, xlsx.Rows);
        Assert.Equal(csv.Rows, xlsx.Rows);

        Assert.Equal(json.Rows, (await ExportAsync("pdf")).Rows);
    }

    [Fact]
    public async Task Export_NamesTheFileInUtf8_WhenThePlateHasAnUmlaut()
    {
        var chef = await app.As(TestApi.Chef);
        var created = await chef.PostAsJsonAsync("/api/vehicles", new { plate = $"LÖ {Random.Shared.Next(1000, 9999)}", name = "Umlautwagen", initialOdometer = 100 }, Ct);
        var vehicle = await created.ReadAsync<Fahrtenbuch.Server.Vehicles.VehicleResponse>(HttpStatusCode.Created);
        var response = await chef.GetAsync($"/api/vehicles/{vehicle.Id}/logbook.csv?from=2025-01-01&to=2025-01-31", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0", response.Headers.GetValues("X-Export-Rows").Single());
        var disposition = response.Content.Headers.ContentDisposition!;
        Assert.Equal($"fahrtenbuch-{vehicle.Plate.Replace(' ', '-')}-2025-01-01-2025-01-31.csv", disposition.FileNameStar);
        Assert.True(disposition.FileName!.All(char.IsAscii), disposition.FileName);
    }

    [Fact]
    public async Task Export_IsForFleetManagersAuditorsAndTheCarsOwnDriver_NotForOtherDrivers()
    {
        var vehicle = await app.VehicleAsync(); // anna's company car
        var ben = await app.As("ben@demo.local");
        foreach (var format in new[] { "csv", "pdf" })
        {
            await ProblemAssert.IsProblemAsync(await ben.GetAsync($"/api/vehicles/{vehicle}/logbook.{format}?{ExportScenario.Period}", Ct), HttpStatusCode.Forbidden, "export.forbidden");
        }

        foreach (var allowed in new[] { "anna@demo.local", TestApi.Auditor })
        {
            var client = await app.As(allowed);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/vehicles/{vehicle}/logbook.csv?{ExportScenario.Period}", Ct)).StatusCode);
        }
    }

    /// <summary>RFC 4180 with ';' as separator: quoted fields may hold separators, quotes and line breaks.</summary>
    private static List<List<string>> ParseCsv(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ';')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n')
            {
                row.Add(field.ToString().TrimEnd('\r'));
                field.Clear();
                rows.Add(row);
                row = [];
            }
            else
            {
                field.Append(c);
            }
        }

        return rows;
    }
}
