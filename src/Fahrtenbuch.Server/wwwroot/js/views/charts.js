// Charts drawn as plain SVG: stacked bars (km per vehicle and month) and a donut (category share).
import { h, s } from '../dom.js';
import { fmtNumber, fmtPercent, t } from '../i18n.js';

export const palette = ['#1f6feb', '#2da44e', '#bf8700', '#8250df', '#cf222e', '#0a7f86', '#9a6700', '#57606a'];

/** months: labels; series: [{label, color, values[] per month}] */
export function stackedBars(months, series, { title }) {
  const width = 640;
  const height = 280;
  const pad = { top: 16, right: 16, bottom: 36, left: 56 };
  const totals = months.map((_, i) => series.reduce((sum, se) => sum + (se.values[i] || 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const band = plotW / months.length;
  const barW = Math.min(56, band * 0.6);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart', 'data-testid': 'chart-km' },
    s('title', {}, title),
    ticks.map((v) => s('g', {},
      s('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: pad.left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmtNumber(Math.round(v))))),
    months.map((label, i) => {
      let base = 0;
      const x = pad.left + band * i + (band - barW) / 2;
      return s('g', {},
        series.map((se) => {
          const v = se.values[i] || 0;
          if (!v) return null;
          const rect = s('rect', { x, width: barW, y: y(base + v), height: Math.max(0, y(base) - y(base + v)), fill: se.color, rx: 2 },
            s('title', {}, `${se.label}, ${label}: ${fmtNumber(v)} km`));
          base += v;
          return rect;
        }),
        totals[i] ? s('text', { x: x + barW / 2, y: y(totals[i]) - 4, 'text-anchor': 'middle', class: 'value' }, fmtNumber(totals[i])) : null,
        s('text', { x: x + barW / 2, y: height - pad.bottom + 18, 'text-anchor': 'middle', class: 'axis' }, label));
    }));
  const legend = h('ul', { class: 'legend' }, series.map((se) => h('li', {}, h('span', { class: 'swatch', style: `background:${se.color}` }), se.label)));
  const table = h('table', { class: 'sr-only' },
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', {}, t('vehicle')), months.map((m) => h('th', {}, m)))),
    h('tbody', {}, series.map((se) => h('tr', {}, h('th', {}, se.label), se.values.map((v) => h('td', {}, fmtNumber(v || 0)))))));
  return h('figure', { class: 'chart-figure' }, svg, legend, table);
}

/** slices: [{label, value, color}] */
export function donut(slices, { title, centerLabel }) {
  const total = slices.reduce((sum, x) => sum + x.value, 0);
  const size = 220;
  const r = 80;
  const c = size / 2;
  const stroke = 34;
  const circumference = 2 * Math.PI * r;
  let offset = 0;
  const svg = s('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': title, class: 'chart donut', 'data-testid': 'chart-categories' },
    s('title', {}, title),
    s('circle', { cx: c, cy: c, r, fill: 'none', stroke: '#e6e9ee', 'stroke-width': stroke }),
    total > 0 ? slices.filter((x) => x.value > 0).map((x) => {
      const length = (x.value / total) * circumference;
      const arc = s('circle', {
        cx: c, cy: c, r, fill: 'none', stroke: x.color, 'stroke-width': stroke,
        'stroke-dasharray': `${length} ${circumference - length}`, 'stroke-dashoffset': -offset, transform: `rotate(-90 ${c} ${c})`,
      }, s('title', {}, `${x.label}: ${fmtPercent(x.value / total)}`));
      offset += length;
      return arc;
    }) : null,
    s('text', { x: c, y: c - 2, 'text-anchor': 'middle', class: 'donut-value' }, fmtNumber(total)),
    s('text', { x: c, y: c + 18, 'text-anchor': 'middle', class: 'axis' }, centerLabel));
  const legend = h('ul', { class: 'legend legend-column' }, slices.map((x) =>
    h('li', {}, h('span', { class: 'swatch', style: `background:${x.color}` }), h('span', {}, x.label),
      h('strong', {}, total ? fmtPercent(x.value / total) : '–'), h('span', { class: 'muted' }, `${fmtNumber(x.value)} km`))));
  return h('figure', { class: 'chart-figure donut-figure' }, svg, legend);
}

function niceMax(v) {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  const steps = [1, 2, 2.5, 5, 10];
  return steps.map((st) => st * magnitude).find((x) => x >= v) || v;
}
