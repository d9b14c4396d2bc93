import { getAll } from '../api.js';
import { h, clear, field, formValues, toast, toLocalInput } from '../dom.js';
import { t, fmtKm, fmtNumber, fmtSince } from '../i18n.js';
import { enqueue } from '../outbox.js';
import { state, subscribe, upsertTrips, byStartDesc } from '../store.js';
import { uuidv7 } from '../uuid.js';
import { correctDialog, localView, vehicleLabel, availabilityBadge, tripCard, tripDetailFields, missingBusinessDetails, dialog, outcomeMessage } from './common.js';

const usable = (v) => v.availability !== 'retired';

async function loadMyTrips() {
  try {
    upsertTrips(await getAll(`/api/trips?driverId=${state.me.id}`, 100).then((items) => items.slice(0, 200)));
  } catch {
    // Offline: the cached trips stay on screen.
  }
}

/** Driver home: my active trip (complete or cancel it) and the vehicles with who has which right now. */
export function driveView(main) {
  const activeBox = h('section', { class: 'stack', 'aria-labelledby': 'active-title' });
  const list = h('div', { class: 'vehicle-grid', testid: 'vehicle-list' });
  const counter = h('span', { class: 'muted' });
  main.append(activeBox, h('section', { class: 'stack' }, h('div', { class: 'section-head' }, h('h1', {}, t('vehicles')), counter), list));

  // The card (and what the driver typed into it) survives re-renders for as long as the trip is active.
  let card = null;
  const update = () => {
    const { trips, vehicles } = localView();
    const active = [...trips.values()].find((tr) => tr.driverId === state.me.id && tr.state === 'active');
    if (!active) {
      // Kept detached: if the server refuses the completion, the trip is active again with the form as typed.
      card?.el.remove();
    } else if (card?.tripId !== active.id) {
      card = { tripId: active.id, el: activeTripCard(active, vehicles.get(active.vehicleId)) };
      clear(activeBox).append(card.el);
    } else {
      if (!card.el.isConnected) activeBox.append(card.el);
      card.el.querySelector('[data-testid="active-pending"]')?.toggleAttribute('hidden', !active.pending);
    }
    const rows = [...vehicles.values()].filter(usable).sort((a, b) => a.plate.localeCompare(b.plate));
    counter.textContent = t('freeCount', { n: rows.filter((v) => v.availability === 'available').length });
    clear(list);
    if (rows.length === 0) list.append(h('p', { class: 'empty' }, t('noVehicles')));
    for (const v of rows) list.append(vehicleCard(v, Boolean(active)));
  };
  update();
  loadMyTrips();
  return subscribe(update);
}

function vehicleCard(v, hasActive) {
  const mine = v.inUse?.driverId === state.me.id;
  const who = v.inUse ? (mine ? t('inUseByYou', { since: fmtSince(v.inUse.since) }) : t('inUseBy', { name: v.inUse.driverName, since: fmtSince(v.inUse.since) })) : null;
  return h('article', { class: `vehicle-card avail-${v.availability}`, testid: 'vehicle-card', dataset: { plate: v.plate } },
    h('div', { class: 'vehicle-top' },
      h('div', {}, h('h2', { class: 'plate' }, v.plate), h('p', { class: 'muted' }, v.name)),
      availabilityBadge(v)),
    h('p', { class: 'vehicle-meta' },
      h('span', {}, t('odometer'), ': ', h('strong', {}, fmtKm(v.currentOdometer))),
      h('span', { class: 'muted' }, v.isPoolCar ? t('poolCar') : t('assignedTo', { name: v.assignedDriverName || '' }))),
    who && h('p', { class: 'in-use', testid: 'in-use' }, who),
    v.availability === 'available' && !hasActive
      ? h('button', { type: 'button', class: 'btn btn-primary btn-block', testid: `start-${v.plate}`, onclick: () => startDialog(v) }, t('startTrip'))
      : null);
}

function startDialog(v) {
  const odometer = h('input', { type: 'number', name: 'startOdometer', inputmode: 'numeric', min: 0, max: 9999999, required: true, value: v.currentOdometer, testid: 'start-odometer' });
  const place = h('input', { type: 'text', name: 'startPlace', maxlength: 500, autocomplete: 'off' });
  dialog(t('startTripTitle', { vehicle: vehicleLabel(v) }), h('div', {}, field(t('startOdometer'), odometer), field(t('startPlace'), place)), {
    submitLabel: t('start'),
    testid: 'start-dialog',
    onSubmit: async (form) => {
      const values = formValues(form);
      const id = uuidv7();
      const result = await enqueue('trip.start', {
        tripId: id,
        vehicleId: v.id,
        payload: { id, vehicleId: v.id, startOdometer: Number(values.startOdometer), startedAt: new Date().toISOString(), startPlace: values.startPlace || null },
      });
      return outcomeMessage(result, t('tripStarted'), toast);
    },
  });
  odometer.select();
}

function activeTripCard(trip, vehicle) {
  const endOdometer = h('input', { type: 'number', name: 'endOdometer', inputmode: 'numeric', min: trip.startOdometer, max: 9999999, required: true, testid: 'end-odometer' });
  const endPlace = h('input', { type: 'text', name: 'endPlace', maxlength: 500, autocomplete: 'off' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true, testid: 'complete-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'complete-submit' }, t('completeTrip'));
  const form = h('form', {
    class: 'stack',
    onsubmit: async (e) => {
      e.preventDefault();
      const values = formValues(form);
      error.hidden = true;
      if (missingBusinessDetails(values)) {
        error.textContent = t('businessRequired');
        error.hidden = false;
        return;
      }
      submit.disabled = true;
      try {
        const end = Number(values.endOdometer);
    const result = await enqueue('trip.complete', {
          tripId: trip.id,
          vehicleId: trip.vehicleId,
          payload: {
            endOdometer: end, endedAt: new Date().toISOString(), category: values.category,
            destination: values.destination || null, purpose: values.purpose || null, businessPartner: values.businessPartner || null, endPlace: values.endPlace || null,
          },
        });
        const message = outcomeMessage(result, t('tripCompleted', { km: end - trip.startOdometer }), toast);
        if (message) {
          error.textContent = message;
          error.hidden = false;
        }
      } finally {
        submit.disabled = false;
      }
    },
  },
  field(t('endOdometer'), endOdometer, `${t('startOdometer')}: ${fmtKm(trip.startOdometer)}`),
  tripDetailFields(),
  field(t('endPlace'), endPlace),
  error,
  h('div', { class: 'form-actions' },
    h('button', { type: 'button', class: 'btn btn-danger-ghost', testid: 'cancel-trip', onclick: () => cancelDialog(trip) }, t('cancelTrip')),
    submit));
  return h('article', { class: 'card active-trip', testid: 'active-trip' },
    h('div', { class: 'section-head' },
      h('h1', { id: 'active-title' }, t('activeTrip')),
      h('span', { class: 'badge badge-info', testid: 'active-pending', hidden: !trip.pending }, t('pendingSync'))),
    h('p', { class: 'active-vehicle' }, h('strong', {}, vehicle ? vehicle.plate : ''), ' ', vehicle ? vehicle.name : '', ' · ', t('since', { time: fmtSince(trip.startedAt) }), ' · ', fmtKm(trip.startOdometer)),
    form);
}

function cancelDialog(trip) {
  const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 3, testid: 'cancel-reason' });
  dialog(t('cancelTrip'), field(t('cancelReason'), reason), {
    submitLabel: t('confirmCancel'),
    testid: 'cancel-dialog',
    onSubmit: async (form) => {
      const result = await enqueue('trip.cancel', { tripId: trip.id, vehicleId: trip.vehicleId, payload: { reason: formValues(form).reason } });
      return outcomeMessage(result, t('tripCancelled'), toast);
    },
  });
}

/** My trips, newest first, with their state: late, needs review, revisions, waiting to sync. */
export function myTripsView(main) {
  const list = h('div', { class: 'trip-list', testid: 'my-trips' });
  main.append(h('section', { class: 'stack' }, h('h1', {}, t('myTrips')), list));
  const update = () => {
    const { trips } = localView();
    const mine = [...trips.values()].filter((tr) => tr.driverId === state.me.id).sort(byStartDesc);
    clear(list);
    if (mine.length === 0) list.append(h('p', { class: 'empty' }, t('noTrips')));
    mine.forEach((tr) => list.append(tripCard(tr, {
      actions: tr.state === 'completed' && !tr.pending && !tr.restricted
        ? h('button', { type: 'button', class: 'btn btn-small', testid: 'correct-trip', onclick: () => correctDialog(tr) }, t('correct'))
        : null,
    })));
  };
  update();
  loadMyTrips();
  return subscribe(update);
}

function vehicleSelect(name = 'vehicleId', onChange) {
  const { vehicles } = localView();
  return h('select', { name, required: true, testid: 'vehicle-select', onchange: onChange },
    h('option', { value: '' }, t('chooseVehicle')),
    [...vehicles.values()].filter(usable).sort((a, b) => a.plate.localeCompare(b.plate)).map((v) => h('option', { value: v.id }, vehicleLabel(v))));
}

/** A missed trip, entered afterwards (the server marks it as late). */
export function lateView(main) {
  const now = new Date();
  const hourAgo = new Date(now.getTime() - 3600_000);
  const startOdo = h('input', { type: 'number', name: 'startOdometer', inputmode: 'numeric', min: 0, required: true, testid: 'late-start-odometer' });
  const endOdo = h('input', { type: 'number', name: 'endOdometer', inputmode: 'numeric', min: 0, required: true, testid: 'late-end-odometer' });
  const select = vehicleSelect('vehicleId', () => {
    const v = localView().vehicles.get(select.value);
    if (v && !startOdo.value) startOdo.value = v.currentOdometer;
  });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'card stack',
    onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(form);
      error.hidden = true;
      if (missingBusinessDetails(v)) {
        error.textContent = t('businessRequired');
        error.hidden = false;
        return;
      }
      const id = uuidv7();
      const result = await enqueue('trip.record', {
        tripId: id,
        vehicleId: v.vehicleId,
        payload: {
          id, vehicleId: v.vehicleId, driverId: null, startedAt: new Date(v.startedAt).toISOString(), endedAt: new Date(v.endedAt).toISOString(),
          startOdometer: Number(v.startOdometer), endOdometer: Number(v.endOdometer), category: v.category,
          startPlace: v.startPlace || null, endPlace: v.endPlace || null, destination: v.destination || null, purpose: v.purpose || null, businessPartner: v.businessPartner || null,
        },
      });
      const message = outcomeMessage(result, t('tripRecorded'), toast);
      if (message) {
        error.textContent = message;
        error.hidden = false;
      } else form.reset();
    },
  },
  h('h1', {}, t('lateTitle')),
  h('p', { class: 'muted' }, t('lateIntro')),
  field(t('vehicle'), select),
  h('div', { class: 'grid-2' },
    field(t('startedAt'), h('input', { type: 'datetime-local', name: 'startedAt', required: true, value: toLocalInput(hourAgo), testid: 'late-started' })),
    field(t('endedAt'), h('input', { type: 'datetime-local', name: 'endedAt', required: true, value: toLocalInput(now), testid: 'late-ended' })),
    field(t('startOdometer'), startOdo),
    field(t('endOdometer'), endOdo)),
  tripDetailFields(),
  h('div', { class: 'grid-2' },
    field(t('startPlace'), h('input', { type: 'text', name: 'startPlace', maxlength: 500 })),
    field(t('endPlace'), h('input', { type: 'text', name: 'endPlace', maxlength: 500 }))),
  error,
  h('button', { type: 'submit', class: 'btn btn-primary', testid: 'late-submit' }, t('saveTrip')));
  main.append(form);
  return null;
}

/** An odometer reading, e.g. when refuelling. */
export function odometerView(main) {
  const value = h('input', { type: 'number', name: 'value', inputmode: 'numeric', min: 0, required: true, testid: 'odometer-value' });
  const current = h('p', { class: 'hint', 'aria-live': 'polite' });
  const select = vehicleSelect('vehicleId', () => {
    const v = localView().vehicles.get(select.value);
    current.textContent = v ? t('currentOdometer', { km: fmtNumber(v.currentOdometer) }) : '';
    if (v) value.value = v.currentOdometer;
  });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'card stack narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(form);
      const id = uuidv7();
      const result = await enqueue('odometer.record', {
        vehicleId: v.vehicleId,
        payload: { id, value: Number(v.value), readAt: new Date().toISOString(), note: v.note || null },
      });
      const message = outcomeMessage(result, t('readingSaved'), toast);
      error.hidden = !message;
      error.textContent = message || '';
    },
  },
  h('h1', {}, t('odometerTitle')),
  h('p', { class: 'muted' }, t('odometerIntro')),
  field(t('vehicle'), select),
  current,
  field(t('reading'), value),
  field(t('note'), h('input', { type: 'text', name: 'note', maxlength: 500 })),
  error,
  h('button', { type: 'submit', class: 'btn btn-primary', testid: 'odometer-submit' }, t('saveReading')));
  main.append(form);
  return null;
}
