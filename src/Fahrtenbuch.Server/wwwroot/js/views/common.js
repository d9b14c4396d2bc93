// Pieces shared by the driver app and the fleet board.
import { post } from '../api.js';
import { h, s, badge, field, formValues, toast as toastFn } from '../dom.js';
import { t, fmtKm, fmtDate, fmtTime, fmtSince } from '../i18n.js';
import { state, recent, upsertTrip } from '../store.js';
import { queued } from '../outbox.js';

/** Server state with the operations still waiting in the outbox applied on top, so offline work shows at once. */
export function localView() {
  const trips = new Map(state.trips);
  const vehicles = new Map(state.vehicles);
  const me = state.me;
  const setVehicle = (id, change) => {
    const v = vehicles.get(id);
    if (v) vehicles.set(id, { ...v, ...change(v) });
  };
  for (const op of queued()) {
    const p = op.payload;
    if (op.type === 'trip.start') {
      trips.set(op.tripId, {
        id: op.tripId, vehicleId: op.vehicleId, driverId: me.id, driverName: me.displayName, state: 'active', startedAt: p.startedAt,
        startOdometer: p.startOdometer, startPlace: p.startPlace, review: 'none', reviewReasons: [], revisions: [], restricted: false, pending: true,
      });
      setVehicle(op.vehicleId, () => ({ availability: 'in-use', inUse: { tripId: op.tripId, driverId: me.id, driverName: me.displayName, since: p.startedAt, startOdometer: p.startOdometer } }));
    } else if (op.type === 'trip.complete' || op.type === 'trip.cancel') {
      const trip = trips.get(op.tripId);
      if (!trip) continue;
      const completed = op.type === 'trip.complete';
      trips.set(op.tripId, completed
        ? { ...trip, ...p, state: 'completed', distanceKm: p.endOdometer - trip.startOdometer, pending: true }
        : { ...trip, state: 'cancelled', cancelReason: p.reason, pending: true });
      setVehicle(trip.vehicleId, (v) => ({
        availability: v.inUse?.tripId === op.tripId || v.availability === 'in-use' ? 'available' : v.availability,
        inUse: null,
        currentOdometer: completed ? Math.max(v.currentOdometer, p.endOdometer) : v.currentOdometer,
      }));
    } else if (op.type === 'trip.record') {
      trips.set(op.tripId, {
        ...p, id: op.tripId, driverId: me.id, driverName: me.displayName, state: 'completed', distanceKm: p.endOdometer - p.startOdometer,
        enteredLate: true, review: 'none', reviewReasons: [], revisions: [], restricted: false, pending: true,
      });
      setVehicle(op.vehicleId, (v) => ({ currentOdometer: Math.max(v.currentOdometer, p.endOdometer) }));
    } else if (op.type === 'odometer.record') {
      setVehicle(op.vehicleId, (v) => ({ currentOdometer: Math.max(v.currentOdometer, p.value) }));
    }
  }
  return { trips, vehicles };
}

/** A small padlock drawn inline (no emoji font needed). */
export const lockIcon = () =>
  s('svg', { viewBox: '0 0 16 16', width: 14, height: 14, 'aria-hidden': 'true', class: 'icon' },
    s('rect', { x: 3, y: 7, width: 10, height: 8, rx: 1.5, fill: 'currentColor' }),
    s('path', { d: 'M5 7V5a3 3 0 0 1 6 0v2', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8 }));

export const vehicleLabel = (v) => (v ? `${v.plate} · ${v.name}` : '–');

export function availabilityBadge(v) {
  const kind = { available: 'ok', 'in-use': 'busy', 'out-of-service': 'warn', retired: 'neutral' }[v.availability] || 'neutral';
  return badge(t(`avail_${v.availability}`), kind, `availability-${v.plate}`);
}

export function tripBadges(trip) {
  const out = [];
  if (trip.pending) out.push(badge(t('pendingSync'), 'info', 'badge-pending'));
  if (trip.state !== 'completed') out.push(badge(t(`state_${trip.state}`), trip.state === 'active' ? 'busy' : 'neutral', `badge-${trip.state}`));
  if (trip.enteredLate) out.push(badge(t('enteredLate'), 'neutral', 'badge-late'));
  if (trip.review === 'pending') out.push(badge(t('needsReview'), 'warn', 'badge-review'));
  if (trip.revisions?.length) out.push(badge(t('revisions', { n: trip.revisions.length }), 'info', 'badge-revisions'));
  if (trip.restricted) out.push(badge(t('restrictedShort'), 'private', 'badge-restricted'));
  return out;
}

export const categoryBadge = (trip) => (trip.category ? badge(t(`cat_${trip.category}`), `cat-${trip.category}`) : null);

export function timeRange(trip) {
  const start = `${fmtDate(trip.startedAt)} ${fmtTime(trip.startedAt)}`;
  if (!trip.endedAt) return `${start} – …`;
  const sameDay = new Date(trip.startedAt).toDateString() === new Date(trip.endedAt).toDateString();
  return `${start} – ${sameDay ? fmtTime(trip.endedAt) : `${fmtDate(trip.endedAt)} ${fmtTime(trip.endedAt)}`}`;
}

/** One trip as a card (driver app and board detail lists). */
export function tripCard(trip, { actions } = {}) {
  const vehicle = state.vehicles.get(trip.vehicleId);
  const km = trip.distanceKm ?? (trip.endOdometer != null ? trip.endOdometer - trip.startOdometer : null);
  return h('article', { class: `trip-card${trip.restricted ? ' is-restricted' : ''}`, testid: 'trip-card', dataset: { tripId: trip.id } },
    h('div', { class: 'trip-head' },
      h('div', {},
        h('div', { class: 'trip-when' }, timeRange(trip)),
        h('div', { class: 'trip-vehicle muted' }, vehicleLabel(vehicle), trip.driverName && trip.driverId !== state.me?.id ? ` · ${trip.driverName}` : '')),
      h('div', { class: 'trip-km', testid: 'trip-km' }, km != null ? fmtKm(km) : fmtSince(trip.startedAt))),
    h('div', { class: 'badges' }, categoryBadge(trip), tripBadges(trip)),
    trip.restricted
      ? h('p', { class: 'restricted-note', testid: 'restricted-note' }, lockIcon(), t('restricted'))
      : h('dl', { class: 'trip-details' },
        detail(t('odometer'), `${fmtKm(trip.startOdometer)} → ${trip.endOdometer != null ? fmtKm(trip.endOdometer) : '…'}`),
        trip.destination && detail(t('destination'), trip.destination),
        trip.purpose && detail(t('purpose'), trip.purpose),
        trip.businessPartner && detail(t('businessPartner'), trip.businessPartner),
        trip.reviewReasons?.length ? detail(t('needsReview'), trip.reviewReasons.map((r) => t(`reason_${r}`)).join(', ')) : null,
        trip.cancelReason && detail(t('cancelReason'), trip.cancelReason),
        trip.voidReason && detail(t('voidReason'), trip.voidReason)),
    actions ? h('div', { class: 'trip-actions' }, actions) : null);
}

const detail = (label, value) => [h('dt', {}, label), h('dd', {}, value)];

/** Category radios plus destination, purpose and partner with recently used values offered. */
export function tripDetailFields(initial = {}) {
  const category = initial.category || 'business';
  const radios = ['business', 'private', 'commute'].map((c) =>
    h('label', { class: 'segment' },
      h('input', { type: 'radio', name: 'category', value: c, checked: c === category, testid: `category-${c}` }),
      h('span', {}, t(`cat_${c}`))));
  const listFor = (name) => {
    const id = `recent-${name}-${Math.random().toString(36).slice(2, 7)}`;
    return [id, h('datalist', { id }, recent(name).map((v) => h('option', { value: v })))];
  };
  const text = (name, label) => {
    const [listId, list] = listFor(name);
    const input = h('input', { type: 'text', name, maxlength: 500, list: listId, value: initial[name] || '', testid: `field-${name}`, autocomplete: 'off' });
    return [field(label, input), list];
  };
  const fieldset = h('fieldset', { class: 'segments' }, h('legend', {}, t('category')), h('div', { class: 'segment-group' }, radios));
  return h('div', { class: 'detail-fields' },
    fieldset,
    text('destination', t('destination')),
    text('purpose', t('purpose')),
    text('businessPartner', t('businessPartner')));
}

/** Business trips need destination, purpose and partner (the tax office's rule); checked before sending. */
export function missingBusinessDetails(values) {
  return values.category === 'business' && (!values.destination || !values.purpose || !values.businessPartner);
}

/** A modal dialog with a form; resolves when closed. */
export function dialog(title, body, { submitLabel, onSubmit, testid }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: `${testid}-submit` }, submitLabel);
  const form = h('form', { method: 'dialog', class: 'dialog-form' },
    h('h2', {}, title), body, error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dlg.close() }, t('close')),
      submit));
  const dlg = h('dialog', { class: 'dialog', testid, 'aria-label': title }, form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const message = await onSubmit(form);
      if (message) {
        error.textContent = message;
        error.hidden = false;
      } else dlg.close();
    } finally {
      submit.disabled = false;
    }
  });
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/** Shows the outcome of an outbox operation and returns an error text when the form should stay open. */
export function outcomeMessage(result, successText, toast) {
  if (result.status === 'queued') {
    toast(t('savedOffline'), 'info');
    return null;
  }
  if (result.status === 'rejected') return result.problem?.detail || t('errorGeneric');
  // A conflict is listed in the sync notices (see outbox.js), which stay until dismissed.
  if (result.status === 'conflict' || (result.trip?.review === 'pending' && result.reviewReasons?.length)) return null;
  toast(successText, 'success');
  return null;
}

/** A correction of a completed trip's details; the server keeps it as a revision with the reason. */
/** Corrects a trip as a new revision; the review queue passes its own endpoint, which also resolves the review. */
export function correctDialog(tr, { path = `/api/trips/${tr.id}/revisions`, errorText = (error) => error.message } = {}) {
  const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 2 });
  dialog(`${t('correct')}: ${timeRange(tr)}`, h('div', {}, tripDetailFields(tr), field(t('correctionReason'), reason)), {
    submitLabel: t('save'),
    testid: 'correct-dialog',
    onSubmit: async (form) => {
      const v = formValues(form);
      try {
        upsertTrip(await post(path, {
          reason: v.reason, category: v.category, destination: v.destination || null, purpose: v.purpose || null, businessPartner: v.businessPartner || null,
        }));
        toastFn(t('corrected'), 'success');
        return null;
      } catch (error) {
        return errorText(error);
      }
    },
  });
}

