// Everything a driver changes goes through this queue in IndexedDB: the operation and its ids are
// created once, at enqueue, so a retry or a replay after a reload can never create a second trip.
// The queue is flushed in order through POST /api/sync, which answers per operation.
import { ApiError, NetworkError, get, post } from './api.js';
import { state, changed, upsertTrip, upsertVehicle } from './store.js';
import { uuidv7 } from './uuid.js';

const dbName = 'fahrtenbuch';
let dbPromise;

function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(dbName, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return dbPromise;
}

async function tx(mode, work) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const transaction = database.transaction('outbox', mode);
    const result = work(transaction.objectStore('outbox'));
    transaction.oncomplete = () => resolve(result?.result ?? result);
    transaction.onerror = () => reject(transaction.error);
  });
}

export const pendingOps = async () => {
  const all = await tx('readonly', (store) => store.getAll());
  return all.filter((op) => op.userId === state.me?.id);
};

let cachedOps = [];
/** The queued operations as last read (for rendering without awaiting IndexedDB). */
export const queued = () => cachedOps;

export async function refreshCount() {
  cachedOps = await pendingOps();
  state.sync.pending = cachedOps.length;
  changed();
}

const channel = 'BroadcastChannel' in window ? new BroadcastChannel('fahrtenbuch-outbox') : null;
channel?.addEventListener('message', () => refreshCount());

/** Queues one operation and tries to send it at once; resolves with its result when it was sent. */
export async function enqueue(type, { tripId = null, vehicleId = null, payload }) {
  const op = { id: uuidv7(), type, capturedAt: new Date().toISOString(), tripId, vehicleId, payload, userId: state.me.id, deviceId: deviceId() };
  await tx('readwrite', (store) => store.add(op));
  await refreshCount();
  channel?.postMessage('changed');
  // The caller tells the user about this operation's outcome; notices are for outcomes that arrive later.
  immediate.add(op.id);
  try {
    // A slow network must not hold the driver up: after a few seconds the operation counts as queued.
    const slow = new Promise((resolve) => setTimeout(() => resolve(null), 4000));
    const results = await Promise.race([flush(), slow]);
    return results?.get(op.id) ?? { status: 'queued' };
  } finally {
    immediate.delete(op.id);
  }
}

export function deviceId() {
  let id = localStorage.getItem('fahrtenbuch.device');
  if (!id) {
    id = uuidv7();
    localStorage.setItem('fahrtenbuch.device', id);
  }
  return id;
}

const immediate = new Set();
let running = Promise.resolve(new Map());

/** Sends the queue in order (one flush at a time per tab, and per browser through a Web Lock). */
export function flush() {
  const run = () => (navigator.locks ? navigator.locks.request('fahrtenbuch-outbox', () => flushLocked()) : flushLocked());
  const next = running.then(run, run);
  running = next.catch(() => new Map());
  return next;
}

async function flushLocked() {
  const results = new Map();
  let ops = await pendingOps();
  if (ops.length === 0) return results;
  state.sync.syncing = true;
  changed();
  try {
    while (ops.length > 0) {
      const batch = ops.slice(0, 50);
      const answered = await sendBatch(batch);
      for (const result of answered) {
        results.set(result.id, result);
        settle(batch.find((op) => op.id === result.id), result);
        await tx('readwrite', (store) => store.delete(batch.find((op) => op.id === result.id).seq));
      }
      if (answered.length < batch.length) break;
      ops = await pendingOps();
    }
    state.online = true;
    state.sync.error = null;
  } catch (error) {
    if (error instanceof NetworkError) state.online = false;
    else state.sync.error = error.message;
  } finally {
    state.sync.syncing = false;
    await refreshCount();
    channel?.postMessage('changed');
  }
  return results;
}

async function sendBatch(batch) {
  try {
    const response = await post('/api/sync', {
      deviceId: deviceId(),
      operations: batch.map(({ id, type, capturedAt, tripId, vehicleId, payload }) => ({ id, type, capturedAt, tripId, vehicleId, payload })),
    });
    return response.results;
  } catch (error) {
    // Overloaded or restarting: the queue stays and is retried like when offline.
    if (error instanceof ApiError && (error.status >= 500 || error.status === 429)) throw new NetworkError(error.message);
    throw error;
  }
}

function settle(op, result) {
  if (result.trip) upsertTrip(result.trip);
  if (result.status === 'conflict' || (result.trip?.review === 'pending' && result.reviewReasons?.length)) {
    // A conflict stays listed until the driver dismisses it, also when the form that sent it is still waiting:
    // it explains the review badge long after any toast is gone.
    note({ kind: 'conflict', opType: op.type, tripId: result.tripId, reasons: result.reviewReasons || [], detail: result.problem?.detail || null });
  } else if (immediate.has(op.id)) {
    // a rejection is reported by the form that sent it
  } else if (result.status === 'rejected') {
    note({ kind: 'rejected', opType: op.type, tripId: result.tripId, detail: result.problem?.detail || '' });
  }
  // The live stream brings the vehicle's new status too; asking directly keeps this tab right without it.
  const vehicleId = op.vehicleId ?? result.trip?.vehicleId;
  if (vehicleId && result.status !== 'rejected') get(`/api/vehicles/${vehicleId}`).then(upsertVehicle, () => {});
}

function note(notice) {
  state.sync.notices = [...state.sync.notices, { ...notice, at: new Date().toISOString(), key: uuidv7() }];
  changed();
}

export function dismissNotice(key) {
  state.sync.notices = state.sync.notices.filter((n) => n.key !== key);
  changed();
}

window.addEventListener('online', () => {
  state.online = true;
  changed();
  flush();
});
window.addEventListener('offline', () => {
  state.online = false;
  changed();
});

// A queue left over (closed tab, server briefly down) is retried regularly.
setInterval(() => {
  if (state.me && state.sync.pending > 0) flush();
}, 15000);
