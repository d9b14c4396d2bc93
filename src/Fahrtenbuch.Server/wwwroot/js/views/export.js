// The logbook export for fleet managers and auditors: one vehicle, one period, one format, downloaded as a
// stream with real progress. The server announces the record count (X-Export-Rows) before the first byte;
// CSV and JSON records are counted here as they arrive. PDF and xlsx are compressed, so for them only the
// bytes received are shown (docs/logbook.md, "Exports").
import { ApiError, NetworkError, download, fileNameFrom, get } from '../api.js';
import { h, clear, field } from '../dom.js';
import { t, fmtNumber, fmtBytes } from '../i18n.js';
import { state } from '../store.js';
import { vehicleLabel } from './common.js';

const formats = ['pdf', 'csv', 'json', 'xlsx'];
const presets = ['thisMonth', 'lastMonth', 'thisYear', 'lastYear', 'custom'];

const isoDate = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** First and last day (inclusive, local dates) of a preset period. */
function presetRange(preset, today = new Date()) {
  const y = today.getFullYear();
  const m = today.getMonth();
  switch (preset) {
    case 'thisMonth': return [new Date(y, m, 1), today];
    case 'lastMonth': return [new Date(y, m - 1, 1), new Date(y, m, 0)];
    case 'lastYear': return [new Date(y - 1, 0, 1), new Date(y - 1, 11, 31)];
    default: return [new Date(y, 0, 1), today];
  }
}

/**
 * Counts the records completed so far in the unit X-Export-Rows uses: CSV lines after the header (a quoted
 * field may hold line breaks, and `""` toggles twice), JSON objects in the top-level `rows` array. Bytes are
 * scanned directly: UTF-8 continuation bytes never equal `"`, `\`, braces or a line feed.
 */
export function recordCounter(format) {
  if (format === 'csv') {
    let quoted = false;
    let lines = 0;
    return (bytes) => {
      for (const b of bytes) {
        if (b === 0x22) quoted = !quoted;
        else if (b === 0x0a && !quoted) lines++;
      }
      return Math.max(0, lines - 1);
    };
  }
  if (format === 'json') {
    const stack = [];
    let inString = false;
    let escaped = false;
    let rows = 0;
    return (bytes) => {
      for (const b of bytes) {
        if (inString) {
          if (escaped) escaped = false;
          else if (b === 0x5c) escaped = true;
          else if (b === 0x22) inString = false;
        } else if (b === 0x22) inString = true;
        else if (b === 0x7b || b === 0x5b) stack.push(b);
        else if (b === 0x7d || b === 0x5d) {
          stack.pop();
          if (b === 0x7d && stack.length === 2 && stack[1] === 0x5b) rows++;
        }
      }
      return rows;
    };
  }
  return null;
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function exportView(main) {
  let controller = null;
  const vehicle = h('select', { name: 'vehicleId', required: true, testid: 'export-vehicle' });
  const preset = h('select', { name: 'preset', testid: 'export-preset' }, presets.map((p) => h('option', { value: p, selected: p === 'thisYear' }, t(`period_${p}`))));
  const from = h('input', { type: 'date', name: 'from', required: true, testid: 'export-from' });
  const to = h('input', { type: 'date', name: 'to', required: true, testid: 'export-to' });
  const applyPreset = () => {
    if (preset.value === 'custom') return;
    const [first, last] = presetRange(preset.value);
    from.value = isoDate(first);
    to.value = isoDate(last);
  };
  preset.addEventListener('change', applyPreset);
  const toCustom = () => { preset.value = 'custom'; };
  from.addEventListener('input', toCustom);
  to.addEventListener('input', toCustom);
  applyPreset();

  const formatGroup = h('fieldset', { class: 'segments' }, h('legend', {}, t('exportFormat')),
    h('div', { class: 'segment-group segment-group-4' }, formats.map((f) =>
      h('label', { class: 'segment', title: t(`formatHint_${f}`) },
        h('input', { type: 'radio', name: 'format', value: f, checked: f === 'pdf', testid: `export-format-${f}` }),
        h('span', {}, t(`format_${f}`))))));

  const progress = h('progress', { class: 'export-bar', max: 1, value: 0, testid: 'export-progress', 'aria-label': t('exportProgressLabel'), hidden: true });
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'export-status' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true, testid: 'export-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'export-submit' }, t('exportStart'));
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true, testid: 'export-cancel', onclick: () => controller?.abort() }, t('cancelAction'));
  const controls = [vehicle, preset, from, to, ...formatGroup.querySelectorAll('input')];

  const setRunning = (running) => {
    controls.forEach((c) => { c.disabled = running; });
    submit.hidden = running;
    cancel.hidden = !running;
  };
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };

  const fillVehicles = (rows) => {
    const chosen = vehicle.value;
    clear(vehicle).append(...rows.sort((a, b) => a.plate.localeCompare(b.plate)).map((v) =>
      h('option', { value: v.id, selected: v.id === chosen }, v.availability === 'retired' ? `${vehicleLabel(v)} (${t('avail_retired')})` : vehicleLabel(v))));
  };
  fillVehicles([...state.vehicles.values()]);
  // Retired cars still need their logbook for the tax office.
  get('/api/vehicles?includeRetired=true').then(fillVehicles, () => {});

  const run = async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (from.value > to.value) {
      fail(t('exportPeriodInvalid'));
      return;
    }
    const format = new FormData(form).get('format');
    const count = recordCounter(format);
    let total = null;
    let received = 0;
    let records = 0;
    progress.hidden = false;
    progress.dataset.state = 'running';
    progress.max = 1;
    progress.value = 0;
    status.textContent = t('exportWaiting');
    controller = new AbortController();
    setRunning(true);
    const show = () => {
      if (total != null && count) {
        progress.max = Math.max(total, 1);
        progress.value = Math.min(records, total);
        status.textContent = t('exportProgressRows', { n: fmtNumber(records), total: fmtNumber(total), size: fmtBytes(received) });
      } else {
        progress.removeAttribute('value'); // indeterminate: the bytes of a compressed file say nothing about the rows
        status.textContent = t('exportProgressBytes', { size: fmtBytes(received), total: total == null ? '?' : fmtNumber(total) });
      }
    };
    const query = new URLSearchParams({ from: from.value, to: to.value });
    try {
      const { blob, headers } = await download(`/api/vehicles/${encodeURIComponent(vehicle.value)}/logbook.${format}?${query}`, {
        signal: controller.signal,
        onResponse: (hs) => {
          const announced = Number.parseInt(hs.get('X-Export-Rows') ?? '', 10);
          total = Number.isFinite(announced) ? announced : null;
          show();
        },
        onChunk: (bytes) => {
          received += bytes.length;
          if (count) records = count(bytes);
          show();
        },
      });
      const plate = state.vehicles.get(vehicle.value)?.plate || 'fahrzeug';
      const name = fileNameFrom(headers.get('Content-Disposition'), `fahrtenbuch-${plate}-${from.value}-${to.value}.${format}`);
      progress.max = 1;
      progress.value = 1;
      progress.dataset.state = 'done';
      status.textContent = t('exportDone', { file: name, size: fmtBytes(blob.size) });
      save(blob, name);
    } catch (err) {
      progress.dataset.state = err?.name === 'AbortError' ? 'cancelled' : 'error';
      progress.max = 1;
      progress.value = 0;
      if (err?.name === 'AbortError') status.textContent = t('exportCancelled');
      else {
        status.textContent = '';
        if (err instanceof NetworkError) fail(t('exportNetwork'));
        else if (err instanceof ApiError) fail(t('exportFailed', { detail: err.message }));
        else fail(t('exportFailed', { detail: err?.message || t('errorGeneric') }));
      }
    } finally {
      controller = null;
      setRunning(false);
    }
  };

  const form = h('form', { class: 'stack', testid: 'export-form', onsubmit: run },
    field(t('vehicle'), vehicle),
    h('div', { class: 'export-period' },
      field(t('exportPeriod'), preset),
      field(t('from'), from),
      field(t('to'), to, t('exportToHint'))),
    formatGroup,
    h('div', { class: 'btn-row' }, submit, cancel),
    progress, status, error);

  main.append(h('section', { class: 'card stack export-card' },
    h('h1', {}, t('exportTitle')),
    h('p', { class: 'muted' }, t('exportIntro')),
    form));
  // Leaving the screen ends a running download instead of saving a file nobody waits for.
  return () => controller?.abort();
}
