import { ApiError, get, getAll, post, patch } from '../api.js';
import { h, clear, field, formValues, toast, badge } from '../dom.js';
import { t, fmtKm, fmtNumber, fmtSince, fmtDateTime, fmtMonth } from '../i18n.js';
import { state, subscribe, upsertTrip, upsertTrips, upsertVehicle, isManager, byStartDesc } from '../store.js';
import { lockIcon, availabilityBadge, tripBadges, categoryBadge, timeRange, vehicleLabel, dialog, correctDialog } from './common.js';
import { stackedBars, donut, palette } from './charts.js';

const startOfToday = () => {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
};
const startOfMonth = () => {
  const d = startOfToday();
  d.setDate(1);
  return d;
};

let monthLoaded = 0;
/** This month's trips into the store; live events keep them current afterwards. */
async function loadMonth(force = false) {
  if (!force && Date.now() - monthLoaded < 60_000) return;
  try {
    upsertTrips(await getAll(`/api/trips?from=${encodeURIComponent(startOfMonth().toISOString())}`));
    monthLoaded = Date.now();
  } catch {
    // Offline or not allowed: what is in the store stays on screen.
  }
}

const monthTrips = () => [...state.trips.values()].filter((tr) => new Date(tr.startedAt) >= startOfMonth()).sort(byStartDesc);
const countsKm = (tr) => tr.state === 'completed' && tr.distanceKm != null;

/** Re-runs update on store changes and reloads lists when the live stream was reset or reconnected. */
function live(update, reload) {
  const offStore = subscribe(update);
  const onResync = () => reload?.(true);
  window.addEventListener('fahrtenbuch:resync', onResync);
  return () => {
    offStore();
    window.removeEventListener('fahrtenbuch:resync', onResync);
  };
}

export function boardView(main) {
  const kpis = h('div', { class: 'kpis', testid: 'kpis' });
  const table = h('tbody', { testid: 'board-rows' });
  const active = h('div', { class: 'active-list', testid: 'active-trips' });
  main.append(
    h('div', { class: 'section-head' }, h('h1', {}, t('boardTitle'))),
    kpis,
    h('div', { class: 'board-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'vb-title' },
        h('h2', { id: 'vb-title' }, t('vehicleBoard')),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'vehicle-board' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('plate')), h('th', { scope: 'col' }, t('vehicle')), h('th', { scope: 'col' }, t('state')),
            h('th', { scope: 'col' }, t('driver')), h('th', { scope: 'col', class: 'num' }, t('odometer')))),
          table))),
      h('section', { class: 'card', 'aria-labelledby': 'at-title' }, h('h2', { id: 'at-title' }, t('activeTrips')), active)));

  const update = () => {
    const vehicles = [...state.vehicles.values()].filter((v) => v.availability !== 'retired').sort((a, b) => a.plate.localeCompare(b.plate));
    const trips = monthTrips();
    const today = trips.filter((tr) => new Date(tr.startedAt) >= startOfToday() && tr.state !== 'cancelled');
    const km = trips.filter(countsKm).reduce((sum, tr) => sum + tr.distanceKm, 0);
    const review = [...state.trips.values()].filter((tr) => tr.review === 'pending').length;
    const count = (a) => vehicles.filter((v) => v.availability === a).length;
    clear(kpis).append(
      kpi(t('kpiAvailable'), count('available'), 'ok', 'kpi-available'),
      kpi(t('kpiInUse'), count('in-use'), 'busy', 'kpi-in-use'),
      kpi(t('kpiOutOfService'), count('out-of-service'), 'warn', 'kpi-oos'),
      kpi(t('kpiTripsToday'), today.length, 'neutral', 'kpi-today'),
      kpi(t('kpiKmMonth'), fmtNumber(km), 'neutral', 'kpi-km'),
      kpi(t('kpiReview'), review, review ? 'warn' : 'neutral', 'kpi-review'));
    clear(table);
    for (const v of vehicles) {
      table.append(h('tr', { testid: 'board-row', dataset: { plate: v.plate, availability: v.availability } },
        h('th', { scope: 'row' }, h('span', { class: 'plate-tag' }, v.plate)),
        h('td', {}, v.name, h('div', { class: 'muted small' }, v.isPoolCar ? t('poolCar') : t('assignedTo', { name: v.assignedDriverName || '' }))),
        h('td', {}, availabilityBadge(v)),
        h('td', { testid: 'board-driver' }, v.inUse ? [h('strong', {}, v.inUse.driverName), h('div', { class: 'muted small' }, t('since', { time: fmtSince(v.inUse.since) }))] : '–'),
        h('td', { class: 'num' }, fmtKm(v.currentOdometer))));
    }
    clear(active);
    const inUse = vehicles.filter((v) => v.inUse);
    if (inUse.length === 0) active.append(h('p', { class: 'empty' }, t('noActiveTrips')));
    for (const v of inUse) {
      active.append(h('div', { class: 'active-item', testid: 'active-trip-item' },
        h('span', { class: 'pulse', 'aria-hidden': 'true' }),
        h('div', {}, h('strong', {}, v.inUse.driverName), h('div', { class: 'muted small' }, `${v.plate} · ${v.name}`)),
        h('div', { class: 'right' }, h('div', {}, t('since', { time: fmtSince(v.inUse.since) })), h('div', { class: 'muted small' }, fmtKm(v.inUse.startOdometer)))));
    }
  };
  update();
  loadMonth(true);
  return live(update, loadMonth);
}

const kpi = (label, value, kind, testid) =>
  h('div', { class: `kpi kpi-${kind}`, testid }, h('div', { class: 'kpi-value' }, String(value)), h('div', { class: 'kpi-label' }, label));

function tripTable(trips, { actions, testid, extra } = {}) {
  if (trips.length === 0) return h('p', { class: 'empty' }, t('noTrips'));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid },
    h('thead', {}, h('tr', {},
      [t('time'), t('vehicle'), t('driver'), t('category'), t('distance'), t('details'), actions ? t('actions') : null]
        .filter(Boolean).map((c, i) => h('th', { scope: 'col', class: i === 4 ? 'num' : null }, c)))),
    h('tbody', {}, trips.map((tr) => h('tr', { testid: 'trip-row', dataset: { tripId: tr.id, restricted: tr.restricted ? 'true' : 'false' }, class: tr.state === 'voided' || tr.state === 'cancelled' ? 'is-void' : null },
      h('td', {}, timeRange(tr)),
      h('td', {}, vehicleLabel(state.vehicles.get(tr.vehicleId))),
      h('td', {}, tr.driverName || '–'),
      h('td', {}, categoryBadge(tr)),
      h('td', { class: 'num', testid: 'trip-distance' }, tr.distanceKm != null ? fmtKm(tr.distanceKm) : '…'),
      h('td', {},
        tr.restricted
          ? h('span', { class: 'restricted-note', testid: 'restricted-note' }, lockIcon(), t('restricted'))
          : h('span', {}, [tr.destination, tr.purpose, tr.businessPartner].filter(Boolean).join(' · ') || '–'),
        h('div', { class: 'badges' }, tripBadges(tr).filter((b) => b.dataset.testid !== 'badge-restricted'),
          tr.reviewReasons?.length && !tr.restricted ? h('span', { class: 'muted small' }, tr.reviewReasons.map((r) => t(`reason_${r}`)).join(', ')) : null),
        extra?.(tr)),
      actions ? h('td', { class: 'actions' }, actions(tr)) : null)))));
}

export function boardTripsView(main) {
  const today = h('div', {});
  const month = h('div', {});
  main.append(
    h('section', { class: 'card stack' }, h('h1', {}, t('todaysTrips')), today),
    h('section', { class: 'card stack' }, h('h2', {}, t('monthsTrips')), month));
  const update = () => {
    const trips = monthTrips();
    clear(today).append(tripTable(trips.filter((tr) => new Date(tr.startedAt) >= startOfToday()), { testid: 'today-trips', actions: isManager() ? tripActions : null }));
    clear(month).append(tripTable(trips, { testid: 'month-trips' }));
  };
  update();
  loadMonth(true);
  return live(update, loadMonth);
}

function tripActions(tr) {
  if (tr.state !== 'completed') return null;
  return h('div', { class: 'btn-row' },
    !tr.restricted ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => correctDialog(tr) }, t('correct')) : null,
    h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', onclick: () => voidDialog(tr) }, t('voidTrip')));
}

function voidDialog(tr, path = `/api/trips/${tr.id}/void`) {
  const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 3 });
  dialog(`${t('voidTrip')}: ${timeRange(tr)}`, field(t('voidReason'), reason), {
    submitLabel: t('voidTrip'),
    testid: 'void-dialog',
    onSubmit: async (form) => {
      try {
        upsertTrip(await post(path, { reason: formValues(form).reason }));
        toast(t('voided'), 'success');
        return null;
      } catch (error) {
        return reviewError(error);
      }
    },
  });
}

/** A 403 review.own-trip gets its own words; the buttons are hidden on own trips, but the server has the last say. */
const ownWords = { 'review.own-trip': 'reviewOwnTrip', 'review.own-reading': 'reviewOwnReading' };
const reviewError = (error) => (error instanceof ApiError && ownWords[error.code] ? t(ownWords[error.code]) : error.message);
const isOwn = (tr) => tr.driverId === state.me?.id;
const opLabel = (op) => t(`opType_${op.type.replace('.', '_')}`);

/** GET /api/review: { trips: [{ trip, operations }], rejectedOperations, readings }; live events keep it current. */
export function reviewView(main) {
  const box = h('div', { testid: 'review-queue' });
  const readingsBox = h('div', { testid: 'review-readings' });
  const rejectedBox = h('div', { testid: 'rejected-operations' });
  main.append(
    h('section', { class: 'card stack' }, h('h1', {}, t('reviewQueue')), box),
    h('section', { class: 'card stack' }, h('h2', {}, t('reviewReadings')), readingsBox),
    h('section', { class: 'card stack' }, h('h2', {}, t('rejectedOps')), rejectedBox));
  let operations = new Map();
  let rejected = [];
  let readings = [];
  const update = () => {
    const trips = [...state.trips.values()].filter((tr) => tr.review === 'pending').sort(byStartDesc);
    clear(box);
    if (trips.length === 0) box.append(h('p', { class: 'empty' }, t('reviewEmpty')));
    else box.append(tripTable(trips, { testid: 'review-table', actions: isManager() ? reviewActions : null, extra: (tr) => operationList(operations.get(tr.id)) }));
    clear(readingsBox);
    if (readings.length === 0) readingsBox.append(h('p', { class: 'empty' }, t('reviewReadingsEmpty')));
    for (const r of readings) {
      readingsBox.append(h('div', { class: 'notice notice-conflict', testid: 'review-reading', dataset: { readingId: r.id } },
        h('div', {}, h('strong', {}, `${r.plate || '–'} · ${fmtKm(r.value)}`), ' ', h('span', {}, t(`reason_${r.flag}`)),
          h('div', { class: 'muted small' }, t('sentBy', { name: r.recordedByName || '–', time: fmtDateTime(r.readAt) }), r.note ? ` · ${r.note}` : '')),
        !isManager() ? null : r.recordedBy === state.me?.id
          ? h('span', { class: 'muted small' }, t('reviewOwnReading'))
          : h('button', { type: 'button', class: 'btn btn-small btn-primary', testid: 'review-reading-accept',
            onclick: () => acceptDialog(`${t('acceptReadingTitle')}: ${r.plate} · ${fmtKm(r.value)}`, `/api/review/readings/${r.id}/accept`, reload, t('acceptedReading')) }, t('accept'))));
    }
    clear(rejectedBox);
    if (rejected.length === 0) rejectedBox.append(h('p', { class: 'empty' }, t('rejectedEmpty')));
    for (const op of rejected) {
      rejectedBox.append(h('div', { class: 'notice notice-rejected', testid: 'rejected-operation', dataset: { operationId: op.id } },
        h('div', {}, h('strong', {}, opLabel(op)), ' ', h('span', { class: 'muted small' }, t('sentBy', { name: op.userName || '–', time: fmtDateTime(op.capturedAt) })),
          h('div', {}, op.problem?.detail || op.problem?.code || '')),
        isManager() && op.userId !== state.me?.id
          ? h('button', { type: 'button', class: 'btn btn-small', testid: 'dismiss-operation', onclick: () => dismissDialog(op, reload) }, t('dismissOp'))
          : null));
    }
  };
  const reload = async () => {
    try {
      const queue = await get('/api/review');
      operations = new Map(queue.trips.map((item) => [item.trip.id, item.operations]));
      rejected = queue.rejectedOperations;
      readings = queue.readings || [];
      upsertTrips(queue.trips.map((item) => item.trip));
    } catch {
      // Offline: keep what is shown.
    }
    update();
  };
  const onEvent = (e) => {
    const type = e.detail?.type;
    const flaggedReading = type === 'odometer.recorded' && e.detail?.data?.flag;
    if (type === 'trip.needs-review' || type === 'sync.rejected' || type === 'sync.dismissed' || type === 'odometer.review-resolved' || flaggedReading) reload();
  };
  window.addEventListener('fahrtenbuch:event', onEvent);
  update();
  reload();
  const off = live(update, reload);
  return () => {
    off();
    window.removeEventListener('fahrtenbuch:event', onEvent);
  };
}

function operationList(ops) {
  if (!ops?.length) return null;
  return h('details', { class: 'small' }, h('summary', {}, `${t('relatedOps')} (${ops.length})`),
    h('ul', {}, ops.map((op) => h('li', {}, `${opLabel(op)} · ${t('sentBy', { name: op.userName || '–', time: fmtDateTime(op.capturedAt) })}`,
      op.reviewReasons?.length ? ` · ${op.reviewReasons.map((r) => t(`reason_${r}`)).join(', ')}` : ''))));
}

function reviewActions(tr) {
  if (isOwn(tr)) return h('span', { class: 'muted small', testid: 'review-own-trip' }, t('reviewOwnTrip'));
  return h('div', { class: 'btn-row' },
    h('button', { type: 'button', class: 'btn btn-small btn-primary', testid: 'review-accept', onclick: () => acceptDialog(`${t('acceptTitle')}: ${timeRange(tr)}`, `/api/review/trips/${tr.id}/accept`, upsertTrip, t('accepted')) }, t('accept')),
    !tr.restricted && tr.state === 'completed'
      ? h('button', { type: 'button', class: 'btn btn-small', testid: 'review-correct', onclick: () => correctDialog(tr, { path: `/api/review/trips/${tr.id}/correct`, errorText: reviewError }) }, t('correct'))
      : null,
    tr.state === 'completed' || tr.state === 'active'
      ? h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', testid: 'review-void', onclick: () => voidDialog(tr, `/api/review/trips/${tr.id}/void`) }, t('voidTrip'))
      : null);
}

/** Accepts a flagged trip or odometer reading as it is, with an optional note. */
function acceptDialog(title, path, done, acceptedText) {
  const note = h('textarea', { name: 'note', maxlength: 500, rows: 3 });
  dialog(title, field(t('resolveNote'), note), {
    submitLabel: t('accept'),
    testid: 'accept-dialog',
    onSubmit: async (form) => {
      try {
        done(await post(path, { note: formValues(form).note || null }));
        toast(acceptedText, 'success');
        return null;
      } catch (error) {
        return reviewError(error);
      }
    },
  });
}

function dismissDialog(op, done) {
  const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 3 });
  dialog(`${t('dismissOp')}: ${opLabel(op)}`, field(t('dismissReason'), reason), {
    submitLabel: t('dismissOp'),
    testid: 'dismiss-dialog',
    onSubmit: async (form) => {
      try {
        await post(`/api/review/operations/${op.id}/dismiss`, { reason: formValues(form).reason });
        toast(t('dismissed'), 'success');
        done();
        return null;
      } catch (error) {
        return reviewError(error);
      }
    },
  });
}

export function peopleView(main) {
  const body = h('tbody', { testid: 'people-rows' });
  const code = h('div', { 'aria-live': 'polite' });
  const manager = isManager();
  const inviteForm = manager ? h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(inviteForm);
      try {
        const result = await post('/api/users', { email: v.email, displayName: v.displayName, role: v.role });
        clear(code).append(h('p', { class: 'notice notice-info', testid: 'invitation-code' },
          t('invitationCode', { email: result.user.email, code: result.invitationCode, until: fmtDateTime(result.expiresAt) })));
        inviteForm.reset();
        reload();
      } catch (error) {
        toast(error.message, 'error');
      }
    },
  },
  field(t('name'), h('input', { name: 'displayName', required: true, maxlength: 200 })),
  field(t('email'), h('input', { name: 'email', type: 'email', required: true, maxlength: 256 })),
  field(t('role'), h('select', { name: 'role' }, ['driver', 'fleet-manager', 'auditor'].map((r) => h('option', { value: r }, t(`role_${r}`))))),
  h('button', { type: 'submit', class: 'btn btn-primary' }, t('invite'))) : null;
  main.append(
    h('section', { class: 'card stack' },
      h('h1', {}, t('people')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, [t('name'), t('email'), t('role'), t('state'), manager ? t('actions') : null].filter(Boolean).map((c) => h('th', { scope: 'col' }, c)))),
        body))),
    manager ? h('section', { class: 'card stack' }, h('h2', {}, t('inviteTitle')), inviteForm, code) : null);
  const reload = async () => {
    try {
      const users = await get('/api/users');
      clear(body);
      for (const u of users) {
        const status = u.isDisabled ? badge(t('disabled'), 'warn') : u.invitationPending ? badge(t('invitationPending'), 'info') : badge(t('active'), 'ok');
        body.append(h('tr', { testid: 'person-row' },
          h('th', { scope: 'row' }, u.displayName, u.id === state.me.id ? h('span', { class: 'muted small' }, ` (${t('you')})`) : null),
          h('td', {}, u.email),
          h('td', {}, t(`role_${u.role}`)),
          h('td', {}, status),
          manager ? h('td', {}, u.id === state.me.id ? null : h('button', {
            type: 'button',
            class: `btn btn-small ${u.isDisabled ? '' : 'btn-danger-ghost'}`,
            onclick: async () => {
              try {
                await post(`/api/users/${u.id}/${u.isDisabled ? 'enable' : 'disable'}`);
                reload();
              } catch (error) {
                toast(error.message, 'error');
              }
            },
          }, u.isDisabled ? t('enable') : t('disable'))) : null));
      }
    } catch (error) {
      if (error instanceof ApiError) toast(error.message, 'error');
    }
  };
  reload();
  return null;
}

export function vehicleAdminView(main) {
  const body = h('tbody', {});
  const manager = isManager();
  let users = [];
  const createForm = manager ? h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(createForm);
      try {
        upsertVehicle(await post('/api/vehicles', { plate: v.plate, name: v.name, initialOdometer: Number(v.initialOdometer || 0), assignedDriverId: v.assignedDriverId || null }));
        toast(t('vehicleCreated'), 'success');
        createForm.reset();
      } catch (error) {
        toast(error.message, 'error');
      }
    },
  },
  field(t('plate'), h('input', { name: 'plate', required: true, maxlength: 20, testid: 'new-plate' })),
  field(t('model'), h('input', { name: 'name', required: true, maxlength: 200, testid: 'new-name' })),
  field(t('initialOdometer'), h('input', { name: 'initialOdometer', type: 'number', min: 0, required: true, value: 0 })),
  h('button', { type: 'submit', class: 'btn btn-primary', testid: 'new-vehicle-submit' }, t('addVehicle'))) : null;
  main.append(
    h('section', { class: 'card stack' }, h('h1', {}, t('vehicleAdmin')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, [t('plate'), t('model'), t('assignment'), t('state'), t('odometer')].map((c, i) => h('th', { scope: 'col', class: i === 4 ? 'num' : null }, c)))),
        body))),
    manager ? h('section', { class: 'card stack' }, h('h2', {}, t('addVehicle')), createForm) : null);

  const change = async (v, body2) => {
    try {
      upsertVehicle(await patch(`/api/vehicles/${v.id}`, body2));
      toast(t('vehicleUpdated'), 'success');
    } catch (error) {
      toast(error.message, 'error');
      update();
    }
  };
  const update = () => {
    clear(body);
    const drivers = users.filter((u) => !u.isDisabled && u.role !== 'auditor');
    for (const v of [...state.vehicles.values()].sort((a, b) => a.plate.localeCompare(b.plate))) {
      const assign = h('select', {
        'aria-label': `${t('assignment')} ${v.plate}`,
        disabled: !manager,
        onchange: (e) => change(v, e.target.value ? { assignedDriverId: e.target.value } : { isPoolCar: true }),
      }, h('option', { value: '', selected: v.isPoolCar }, t('poolCar')), drivers.map((u) => h('option', { value: u.id, selected: u.id === v.assignedDriverId }, u.displayName)));
      const status = h('select', {
        'aria-label': `${t('setStatus')} ${v.plate}`,
        disabled: !manager,
        onchange: (e) => change(v, { status: e.target.value }),
      }, ['in-service', 'out-of-service', 'retired'].map((st) => h('option', { value: st, selected: st === v.status }, t(`status_${st}`))));
      body.append(h('tr', {},
        h('th', { scope: 'row' }, h('span', { class: 'plate-tag' }, v.plate)),
        h('td', {}, v.name),
        h('td', {}, assign),
        h('td', {}, status),
        h('td', { class: 'num' }, fmtKm(v.currentOdometer))));
    }
  };
  get('/api/users').then((u) => {
    users = u;
    update();
  }, () => {});
  get('/api/vehicles?includeRetired=true').then((rows) => rows.forEach(upsertVehicle), () => {});
  update();
  return null;
}

export function chartsView(main) {
  const bars = h('div', { class: 'chart-box' }, h('p', { class: 'muted' }, t('loading')));
  const share = h('div', { class: 'chart-box' }, h('p', { class: 'muted' }, t('loading')));
  main.append(
    h('div', { class: 'section-head' }, h('h1', {}, t('chartsTitle')), h('span', { class: 'muted' }, t('lastMonths'))),
    h('div', { class: 'charts-grid' },
      h('section', { class: 'card stack' }, h('h2', {}, t('kmPerVehicle')), bars),
      h('section', { class: 'card stack' }, h('h2', {}, t('categoryShare')), share)));
  const from = startOfMonth();
  from.setMonth(from.getMonth() - 5);
  getAll(`/api/trips?state=Completed&from=${encodeURIComponent(from.toISOString())}`).then((trips) => {
    const months = Array.from({ length: 6 }, (_, i) => new Date(from.getFullYear(), from.getMonth() + i, 1));
    const monthIndex = (iso) => {
      const d = new Date(iso);
      return (d.getFullYear() - from.getFullYear()) * 12 + d.getMonth() - from.getMonth();
    };
    const vehicles = [...state.vehicles.values()].sort((a, b) => a.plate.localeCompare(b.plate));
    const series = vehicles.map((v, i) => ({ label: v.plate, color: palette[i % palette.length], values: months.map(() => 0) }));
    const byVehicle = new Map(vehicles.map((v, i) => [v.id, series[i]]));
    const categories = { business: 0, private: 0, commute: 0 };
    for (const tr of trips) {
      const i = monthIndex(tr.startedAt);
      if (i < 0 || i > 5 || tr.distanceKm == null) continue;
      const se = byVehicle.get(tr.vehicleId);
      if (se) se.values[i] += tr.distanceKm;
      if (tr.category in categories) categories[tr.category] += tr.distanceKm;
    }
    const used = series.filter((se) => se.values.some((v) => v > 0));
    clear(bars).append(used.length ? stackedBars(months.map(fmtMonth), used, { title: t('kmPerVehicle') }) : h('p', { class: 'empty' }, t('noData')));
    clear(share).append(donut([
      { label: t('cat_business'), value: categories.business, color: '#1f6feb' },
      { label: t('cat_private'), value: categories.private, color: '#bf8700' },
      { label: t('cat_commute'), value: categories.commute, color: '#2da44e' },
    ], { title: t('categoryShare'), centerLabel: t('km') }));
  }, (error) => {
    clear(bars).append(h('p', { class: 'form-error' }, error.message));
    clear(share);
  });
  return null;
}
