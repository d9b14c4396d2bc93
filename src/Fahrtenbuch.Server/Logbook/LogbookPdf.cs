using System.Globalization;
using Fahrtenbuch.Server.Trips;
using SkiaSharp;

namespace Fahrtenbuch.Server.Logbook;

/// <summary>
/// Renders the logbook as a printed form: landscape A4, a header and a column header on every page, one row per
/// trip with corrections, voids and annotations beneath it, gaps marked, totals at the end, and the journal
/// fingerprint and "page X of Y" on every page. Layout runs first (to know the page count), then drawing.
/// </summary>
public static class LogbookPdf
{
    private const float PageWidth = 842;
    private const float PageHeight = 595;
    private const float Margin = 28;
    private const float BodySize = 7.4f;
    private const float NoteSize = 6.6f;
    private const float LineHeight = 9.2f;
    private const float NoteLineHeight = 8.2f;
    private const float CellPadding = 2.5f;
    private const float TableTop = 100;
    private const float FooterTop = PageHeight - Margin - 16;

    private static readonly SKTypeface Regular = Load("Fonts.DejaVuSansCondensed.ttf");
    private static readonly SKTypeface Bold = Load("Fonts.DejaVuSansCondensed-Bold.ttf");
    private static readonly SKColor Ink = new(0x1f, 0x29, 0x37);
    private static readonly SKColor Muted = new(0x6b, 0x72, 0x80);
    private static readonly SKColor Rule = new(0xc8, 0xcd, 0xd4);
    private static readonly SKColor HeaderFill = new(0xe8, 0xec, 0xf1);
    private static readonly SKColor GapFill = new(0xfd, 0xf3, 0xd8);
    private static readonly SKColor Correction = new(0x9a, 0x34, 0x12);
    private static readonly SKColor Stripe = new(0xf7, 0xf8, 0xfa);

    private static readonly (string De, string En, float Width, bool Right)[] Table =
    [
        ("Nr.", "No.", 22, true),
        ("Datum", "Date", 44, false),
        ("Uhrzeit", "Time", 46, false),
        ("Anfangs-km", "Odo. start", 56, true),
        ("End-km", "Odo. end", 56, true),
        ("km", "km", 30, true),
        ("Route (Start → Ziel)", "Route (start → destination)", 136, false),
        ("Zweck", "Purpose", 106, false),
        ("Geschäftspartner", "Business partner", 98, false),
        ("Kategorie", "Category", 50, false),
        ("Fahrer/in", "Driver", 62, false),
        ("Vermerke", "Remarks", 80, false),
    ];

    public static void Write(Stream output, LogbookDocument document)
    {
        using var regular = new SKFont(Regular, BodySize);
        using var bold = new SKFont(Bold, BodySize);
        using var note = new SKFont(Regular, NoteSize);
        var blocks = document.Rows.Select((row, index) => Layout(document, row, index, regular, note)).ToList();
        blocks.Add(TotalsBlock(document, regular, bold));
        var pages = Paginate(blocks);

        var h = document.Header;
        using var pdf = SKDocument.CreatePdf(output, new SKDocumentPdfMetadata
        {
            Title = $"Fahrtenbuch {h.Plate} {h.From:yyyy-MM-dd} – {h.To:yyyy-MM-dd}",
            Author = h.Company,
            Subject = $"Journal fingerprint SHA-256 {h.Fingerprint}",
            Creator = "Fahrtenbuch",
            Creation = h.GeneratedAt.UtcDateTime,
        });
        for (var p = 0; p < pages.Count; p++)
        {
            var canvas = pdf.BeginPage(PageWidth, PageHeight);
            DrawPageFrame(canvas, document, p + 1, pages.Count);
            var y = TableTop + DrawColumnHeader(canvas, TableTop);
            foreach (var block in pages[p])
            {
                block.Draw(canvas, y);
                y += block.Height;
            }

            pdf.EndPage();
        }

        pdf.Close();
    }

    private sealed record Block(float Height, Action<SKCanvas, float> Draw);

    private static List<List<Block>> Paginate(List<Block> blocks)
    {
        var available = FooterTop - 6 - TableTop - ColumnHeaderHeight;
        var pages = new List<List<Block>> { new() };
        var used = 0f;
        foreach (var block in blocks)
        {
            if (used + block.Height > available && pages[^1].Count > 0)
            {
                pages.Add([]);
                used = 0;
            }

            pages[^1].Add(block);
            used += block.Height;
        }

        return pages;
    }

    private static Block Layout(LogbookDocument d, LogbookRow row, int index, SKFont font, SKFont noteFont)
    {
        if (row.Kind != "trip")
        {
            var label = row.Kind switch
            {
                "gap" => $"Nicht erfasste Kilometer / unrecorded kilometres: {Km(row.StartOdometer)} → {Km(row.EndOdometer)} = {row.Km} km",
                "overlap" => $"Kilometerstände überschneiden sich / odometer readings overlap: {Km(row.EndOdometer)} < {Km(row.StartOdometer)} ({row.Km} km)",
                _ => $"Kilometerstand rückwärts / odometer reading goes backwards: {Km(row.StartOdometer)} → {Km(row.EndOdometer)}",
            };
            var text = Wrap($"{label} — {row.Note}", noteFont, Width() - 2 * CellPadding);
            var issueHeight = text.Count * NoteLineHeight + 2 * CellPadding + 1;
            return new Block(issueHeight, (canvas, y) =>
            {
                using var fill = new SKPaint { Color = GapFill };
                canvas.DrawRect(Margin, y, Width(), issueHeight, fill);
                DrawLines(canvas, text, Margin + CellPadding, y + CellPadding + NoteSize, noteFont, Correction, NoteLineHeight);
                HorizontalRule(canvas, y + issueHeight);
            });
        }

        var voided = row.State is TripState.Voided or TripState.Cancelled;
        var route = row.Restricted ? "privat – nur km / private – km only"
            : string.Join(" → ", new[] { row.StartPlace, row.Destination ?? row.EndPlace }.Where(s => !string.IsNullOrWhiteSpace(s)));
        var remarks = new List<string>();
        if (row.EnteredLate)
        {
            remarks.Add($"nachgetragen / entered late {d.Local(row.RecordedAt, "dd.MM.yy HH:mm")}");
        }

        if (row.LockedAt is not null)
        {
            remarks.Add("gesperrt / locked");
        }

        if (voided)
        {
            remarks.Add(row.State == TripState.Voided ? "STORNIERT / VOID" : "ABGEBROCHEN / CANCELLED");
        }

        string[] cells =
        [
            row.Number?.ToString(CultureInfo.InvariantCulture) ?? "",
            d.Local(row.StartedAt, "dd.MM.yyyy"),
            $"{d.Local(row.StartedAt, "HH:mm")}–{d.Local(row.EndedAt, "HH:mm")}",
            Km(row.StartOdometer),
            Km(row.EndOdometer),
            row.Km?.ToString("N0", German) ?? "",
            route,
            row.Purpose ?? "",
            row.BusinessPartner ?? "",
            CategoryLabel(row),
            row.Driver ?? "",
            string.Join("; ", remarks),
        ];
        var wrapped = cells.Select((text, i) => Wrap(text, font, Table[i].Width - 2 * CellPadding)).ToList();
        var lines = wrapped.Max(w => Math.Max(1, w.Count));
        var notes = new List<string>();
        if (voided)
        {
            notes.Add($"{(row.State == TripState.Voided ? "Storniert / voided" : "Abgebrochen / cancelled")} {d.Local(row.ClosedAt, "dd.MM.yyyy HH:mm")} von / by {row.ClosedByName}: {row.VoidOrCancelReason}");
        }

        foreach (var revision in row.Revisions)
        {
            var changes = string.Join("; ", revision.Changes.Select(c => $"{c.Field}: „{c.OldValue}“ → „{c.NewValue}“"));
            notes.Add($"Korrektur / correction {revision.Number} am {d.Local(revision.ChangedAt, "dd.MM.yyyy HH:mm")} von / by {revision.ChangedByName}: {changes} — Grund / reason: {revision.Reason}");
        }

        foreach (var annotation in row.Annotations)
        {
            notes.Add($"Nachtrag / annotation {annotation.Number} am {d.Local(annotation.CreatedAt, "dd.MM.yyyy HH:mm")} von / by {annotation.CreatedByName}: {annotation.Text}");
        }

        var noteIndent = Table.Take(6).Sum(c => c.Width);
        var noteLines = notes.SelectMany(n => Wrap(n, noteFont, Width() - noteIndent - 2 * CellPadding)).ToList();
        var height = lines * LineHeight + 2 * CellPadding + (noteLines.Count > 0 ? noteLines.Count * NoteLineHeight + 1 : 0) + 1;
        return new Block(height, (canvas, y) =>
        {
            if (index % 2 == 1)
            {
                using var stripe = new SKPaint { Color = Stripe };
                canvas.DrawRect(Margin, y, Width(), height, stripe);
            }

            var x = Margin;
            var color = voided ? Muted : Ink;
            for (var i = 0; i < cells.Length; i++)
            {
                var column = Table[i];
                var lineY = y + CellPadding + BodySize;
                foreach (var line in wrapped[i])
                {
                    using var paint = new SKPaint { Color = color, IsAntialias = true };
                    if (column.Right)
                    {
                        canvas.DrawText(line, x + column.Width - CellPadding, lineY, SKTextAlign.Right, font, paint);
                    }
                    else
                    {
                        canvas.DrawText(line, x + CellPadding, lineY, SKTextAlign.Left, font, paint);
                    }

                    lineY += LineHeight;
                }

                x += column.Width;
            }

            if (voided)
            {
                using var strike = new SKPaint { Color = Muted, StrokeWidth = 0.6f };
                var strikeY = y + CellPadding + BodySize - 2.6f;
                canvas.DrawLine(Margin + Table[0].Width, strikeY, Margin + Table.Take(6).Sum(c => c.Width), strikeY, strike);
            }

            DrawLines(canvas, noteLines, Margin + noteIndent + CellPadding, y + CellPadding + lines * LineHeight + NoteSize, noteFont, Correction, NoteLineHeight);
            HorizontalRule(canvas, y + height);
        });
    }

    private static Block TotalsBlock(LogbookDocument d, SKFont font, SKFont bold)
    {
        var t = d.Totals;
        var profile = CountryProfile.For(d.Header.Country);
        var lines = new List<(string Label, string Value)>
        {
            ("Fahrten (gültig) / trips (valid)", t.Trips.ToString("N0", German)),
            ("storniert oder abgebrochen / voided or cancelled", t.VoidedOrCancelled.ToString("N0", German)),
            ("Gesamt km / total km", t.TotalKm.ToString("N0", German)),
            ("davon geschäftlich / business", t.BusinessKm.ToString("N0", German)),
            ("davon privat / private", t.PrivateKm.ToString("N0", German)),
            ("davon Wohnung–Arbeitsstätte / commute", t.CommuteKm.ToString("N0", German)),
            ($"steuerlich privat ({profile.Country}{(profile.CommuteIsPrivate ? ", Arbeitsweg = privat / commute counts as private" : "")})", t.TaxPrivateKm.ToString("N0", German)),
            ("nicht erfasste km / unrecorded km", t.UnrecordedKm.ToString("N0", German)),
        };
        var height = 16 + lines.Count * 11 + 6;
        return new Block(height + 10, (canvas, y) =>
        {
            y += 10;
            using var ink = new SKPaint { Color = Ink, IsAntialias = true };
            using var frame = new SKPaint { Color = Ink, IsStroke = true, StrokeWidth = 0.8f };
            using var fill = new SKPaint { Color = HeaderFill };
            const float boxWidth = 330;
            canvas.DrawRect(Margin, y, boxWidth, 14, fill);
            canvas.DrawRect(Margin, y, boxWidth, height, frame);
            canvas.DrawText("Summen / totals", Margin + 5, y + 10, SKTextAlign.Left, bold, ink);
            var lineY = y + 14 + 10;
            foreach (var (label, value) in lines)
            {
                canvas.DrawText(label, Margin + 5, lineY, SKTextAlign.Left, font, ink);
                canvas.DrawText(value, Margin + boxWidth - 5, lineY, SKTextAlign.Right, bold, ink);
                lineY += 11;
            }
        });
    }

    private static float ColumnHeaderHeight => 2 * LineHeight + 2 * CellPadding + 2;

    private static float DrawColumnHeader(SKCanvas canvas, float y)
    {
        using var bold = new SKFont(Bold, BodySize - 0.4f);
        using var small = new SKFont(Regular, NoteSize);
        using var fill = new SKPaint { Color = HeaderFill };
        using var ink = new SKPaint { Color = Ink, IsAntialias = true };
        using var muted = new SKPaint { Color = Muted, IsAntialias = true };
        canvas.DrawRect(Margin, y, Width(), ColumnHeaderHeight, fill);
        var x = Margin;
        foreach (var (de, en, width, right) in Table)
        {
            var align = right ? SKTextAlign.Right : SKTextAlign.Left;
            var tx = right ? x + width - CellPadding : x + CellPadding;
            canvas.DrawText(Fit(de, bold, width - 2 * CellPadding), tx, y + CellPadding + BodySize, align, bold, ink);
            canvas.DrawText(Fit(en, small, width - 2 * CellPadding), tx, y + CellPadding + BodySize + LineHeight, align, small, muted);
            x += width;
        }

        using var rule = new SKPaint { Color = Ink, StrokeWidth = 0.9f };
        canvas.DrawLine(Margin, y + ColumnHeaderHeight, Margin + Width(), y + ColumnHeaderHeight, rule);
        return ColumnHeaderHeight;
    }

    private static void DrawPageFrame(SKCanvas canvas, LogbookDocument d, int page, int pages)
    {
        var h = d.Header;
        using var title = new SKFont(Bold, 15);
        using var strong = new SKFont(Bold, 8.5f);
        using var body = new SKFont(Regular, 8.5f);
        using var small = new SKFont(Regular, 6.6f);
        using var smallBold = new SKFont(Bold, 6.6f);
        using var ink = new SKPaint { Color = Ink, IsAntialias = true };
        using var muted = new SKPaint { Color = Muted, IsAntialias = true };
        using var alert = new SKPaint { Color = new SKColor(0xb9, 0x1c, 0x1c), IsAntialias = true };
        using var rule = new SKPaint { Color = Ink, StrokeWidth = 1.2f };

        canvas.DrawText("Fahrtenbuch", Margin, Margin + 14, SKTextAlign.Left, title, ink);
        canvas.DrawText("Vehicle logbook", Margin + title.MeasureText("Fahrtenbuch") + 8, Margin + 14, SKTextAlign.Left, body, muted);
        canvas.DrawText(h.Company, PageWidth - Margin, Margin + 8, SKTextAlign.Right, strong, ink);
        canvas.DrawText($"Länderprofil / country profile: {h.Country}", PageWidth - Margin, Margin + 18, SKTextAlign.Right, small, muted);
        canvas.DrawLine(Margin, Margin + 24, PageWidth - Margin, Margin + 24, rule);

        var line = Margin + 38;
        var x = Margin;
        foreach (var (label, value) in new[]
        {
            ("Kennzeichen / plate", h.Plate),
            ("Fahrzeug / vehicle", h.VehicleName),
            ("Zeitraum / period", $"{h.From:dd.MM.yyyy} – {h.To:dd.MM.yyyy}"),
            ("Zeitzone / time zone", h.TimeZone),
            ("Erstellt / generated", $"{d.Local(h.GeneratedAt, "dd.MM.yyyy HH:mm")} ({h.GeneratedBy})"),
        })
        {
            canvas.DrawText(label, x, line, SKTextAlign.Left, small, muted);
            canvas.DrawText(value, x, line + 10, SKTextAlign.Left, strong, ink);
            x += Math.Max(120, strong.MeasureText(value) + 18);
        }

        var status = h.JournalValid
            ? $"Journal geprüft: gültig, {h.JournalEntries} Einträge / journal verified: valid, {h.JournalEntries} entries"
            : $"JOURNAL UNGÜLTIG / JOURNAL INVALID: {h.JournalProblem}";
        canvas.DrawText(status, Margin, line + 24, SKTextAlign.Left, h.JournalValid ? small : smallBold, h.JournalValid ? muted : alert);

        using var thin = new SKPaint { Color = Rule, StrokeWidth = 0.6f };
        canvas.DrawLine(Margin, FooterTop, PageWidth - Margin, FooterTop, thin);
        canvas.DrawText("Journal-Fingerabdruck / journal fingerprint (SHA-256):", Margin, FooterTop + 9, SKTextAlign.Left, small, muted);
        canvas.DrawText(h.Fingerprint ?? "—", Margin + small.MeasureText("Journal-Fingerabdruck / journal fingerprint (SHA-256):") + 4, FooterTop + 9, SKTextAlign.Left, smallBold, ink);
        canvas.DrawText($"Seite {page} von {pages} / page {page} of {pages}", PageWidth - Margin, FooterTop + 9, SKTextAlign.Right, smallBold, ink);
    }

    private static void DrawLines(SKCanvas canvas, IEnumerable<string> lines, float x, float y, SKFont font, SKColor color, float lineHeight)
    {
        using var paint = new SKPaint { Color = color, IsAntialias = true };
        foreach (var line in lines)
        {
            canvas.DrawText(line, x, y, SKTextAlign.Left, font, paint);
            y += lineHeight;
        }
    }

    private static void HorizontalRule(SKCanvas canvas, float y)
    {
        using var paint = new SKPaint { Color = Rule, StrokeWidth = 0.4f };
        canvas.DrawLine(Margin, y, Margin + Width(), y, paint);
    }

    private static float Width() => Table.Sum(c => c.Width);

    private static readonly CultureInfo German = CultureInfo.GetCultureInfo("de-DE");

    private static string Km(int? value) => value?.ToString("N0", German) ?? "";

    private static string CategoryLabel(LogbookRow row) => row.Category switch
    {
        TripCategory.Business => "geschäftlich",
        TripCategory.Private => "privat",
        TripCategory.Commute => row.TaxCategory == TaxCategory.Private ? "Arbeitsweg (privat)" : "Arbeitsweg",
        _ => "",
    };

    private static string Fit(string text, SKFont font, float width)
    {
        while (text.Length > 1 && font.MeasureText(text) > width)
        {
            text = text[..^2] + "…";
        }

        return text;
    }

    /// <summary>Greedy word wrap; a word longer than the line is broken by characters.</summary>
    private static List<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        if (string.IsNullOrEmpty(text))
        {
            return lines;
        }

        var current = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = current.Length == 0 ? word : $"{current} {word}";
            if (font.MeasureText(candidate) <= width)
            {
                current = candidate;
                continue;
            }

            if (current.Length > 0)
            {
                lines.Add(current);
            }

            current = word;
            while (font.MeasureText(current) > width && current.Length > 1)
            {
                var take = current.Length - 1;
                while (take > 1 && font.MeasureText(current[..take]) > width)
                {
                    take--;
                }

                lines.Add(current[..take]);
                current = current[take..];
            }
        }

        if (current.Length > 0)
        {
            lines.Add(current);
        }

        return lines;
    }

    private static SKTypeface Load(string resource)
    {
        using var stream = typeof(LogbookPdf).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The embedded font {resource} is missing.");
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return SKTypeface.FromStream(copy) ?? throw new InvalidOperationException($"The embedded font {resource} could not be loaded.");
    }
}
