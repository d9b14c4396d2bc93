// The app's state in one place. Server data is cached in localStorage per user, so a reload
// while offline still shows the last known vehicles and trips.
const listeners = new Set();

export const state = {
  me: null,
  vehicles: new Map(),
  trips: new Map(), // trips this device knows: mine plus those loaded for the board
  position: null,
  live: 'connecting',
  sync: { pending: 0, syncing: false, notices: [] },
  online: navigator.onLine,
};

let scheduled = false;
export function changed() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    persist();
    listeners.forEach((l) => l(state));
  });
}

export const subscribe = (listener) => {
  listeners.add(listener);
  return () => listeners.delete(listener);
};

const cacheKey = () => (state.me ? `fahrtenbuch.cache.${state.me.id}` : null);

export function setMe(me) {
  state.me = me;
  if (me) localStorage.setItem('fahrtenbuch.me', JSON.stringify(me));
  else localStorage.removeItem('fahrtenbuch.me');
  restore();
  changed();
}

export const cachedMe = () => JSON.parse(localStorage.getItem('fahrtenbuch.me') || 'null');

function restore() {
  state.vehicles = new Map();
  state.trips = new Map();
  const key = cacheKey();
  if (!key) return;
  const cached = JSON.parse(localStorage.getItem(key) || 'null');
  if (!cached) return;
  cached.vehicles?.forEach((v) => state.vehicles.set(v.id, v));
  cached.trips?.forEach((tr) => state.trips.set(tr.id, tr));
  state.sync.notices = cached.notices || [];
}

function persist() {
  const key = cacheKey();
  if (!key) return;
  const mine = [...state.trips.values()].filter((tr) => tr.driverId === state.me.id).sort(byStartDesc).slice(0, 200);
  localStorage.setItem(key, JSON.stringify({ vehicles: [...state.vehicles.values()], trips: mine, notices: state.sync.notices.slice(-20) }));
}

export const byStartDesc = (a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0);

export function setVehicles(rows) {
  state.vehicles = new Map(rows.map((v) => [v.id, v]));
  changed();
}

export function upsertVehicle(row) {
  state.vehicles.set(row.id, row);
  changed();
}

export function upsertTrip(trip) {
  if (!trip?.id) return;
  state.trips.set(trip.id, trip);
  changed();
}

export function upsertTrips(trips) {
  trips.forEach((tr) => state.trips.set(tr.id, tr));
  changed();
}

export const isManager = () => state.me?.role === 'fleet-manager';
export const seesCompany = () => state.me?.role === 'fleet-manager' || state.me?.role === 'auditor';
export const canWrite = () => state.me?.role === 'fleet-manager' || state.me?.role === 'driver';

/** Recently used values of a trip field (destinations, partners …), newest first, for suggestions. */
export function recent(fieldName, limit = 8) {
  const seen = new Set();
  const out = [];
  for (const tr of [...state.trips.values()].filter((x) => x.driverId === state.me?.id).sort(byStartDesc)) {
    const value = tr[fieldName];
    if (value && !seen.has(value)) {
      seen.add(value);
      out.push(value);
      if (out.length >= limit) break;
    }
  }
  return out;
}
