import { get } from './api.js';

// One live connection per browser: the tab holding the Web Lock is the leader and owns the
// EventSource on /api/events; it relays every event and its connection status to the other tabs
// over a BroadcastChannel. When the leader tab closes, the lock passes to another tab, which
// connects and asks everyone to reload the snapshot (a fresh EventSource cannot resume by itself).
const eventTypes = [
  'trip.started', 'trip.completed', 'trip.recorded', 'trip.cancelled', 'trip.voided', 'trip.corrected', 'trip.needs-review',
  'trip.review-resolved', 'sync.rejected', 'sync.dismissed', 'vehicle.status', 'vehicle.created', 'vehicle.updated', 'odometer.recorded', 'user.invited', 'user.disabled',
  'user.enabled', 'reset', 'shutdown',
];

let handlers = null;
let channel = null;
let stopLeader = null;
let source = null;
let status = 'connecting';

/**
 * Starts live updates. handlers: onEvent({id, type, data}), onStatus(status), onResync().
 * Status is one of connecting, live, offline.
 */
export function startLive(h) {
  stopLive();
  handlers = h;
  if ('BroadcastChannel' in window && navigator.locks) {
    channel = new BroadcastChannel('fahrtenbuch-live');
    channel.onmessage = ({ data: message }) => {
      if (message.kind === 'event') handlers?.onEvent(message.event);
      else if (message.kind === 'status') setStatus(message.status, false);
      else if (message.kind === 'resync') handlers?.onResync();
      else if (message.kind === 'hello' && stopLeader) channel.postMessage({ kind: 'status', status });
    };
    navigator.locks.request('fahrtenbuch-live-leader', () => new Promise((resolve) => {
      stopLeader = resolve;
      connect();
    }));
    channel.postMessage({ kind: 'hello' });
  } else {
    stopLeader = () => {};
    connect();
  }
}

export function stopLive() {
  source?.close();
  source = null;
  stopLeader?.();
  stopLeader = null;
  channel?.close();
  channel = null;
  handlers = null;
}

export const liveStatus = () => status;

function setStatus(next, broadcast = true) {
  status = next;
  handlers?.onStatus(next);
  if (broadcast) channel?.postMessage({ kind: 'status', status: next });
}

function relay(event) {
  handlers?.onEvent(event);
  channel?.postMessage({ kind: 'event', event });
}

function resync() {
  handlers?.onResync();
  channel?.postMessage({ kind: 'resync' });
}

let retryDelay = 1000;
function connect() {
  if (!handlers) return;
  setStatus(navigator.onLine ? 'connecting' : 'offline');
  const es = new EventSource('/api/events', { withCredentials: true });
  source = es;
  let opened = false;
  es.onopen = () => {
    retryDelay = 1000;
    // A new connection (not the browser's own resume) starts at "now": reload what we may have missed.
    if (!opened) resync();
    opened = true;
    setStatus('live');
  };
  for (const type of eventTypes) {
    es.addEventListener(type, (e) => relay({ id: e.lastEventId ? Number(e.lastEventId) : null, type, data: safeParse(e.data) }));
  }
  es.onmessage = (e) => relay({ id: e.lastEventId ? Number(e.lastEventId) : null, type: 'message', data: safeParse(e.data) });
  es.onerror = () => {
    setStatus(navigator.onLine ? 'connecting' : 'offline');
    if (es.readyState === EventSource.CONNECTING) return;
    // Closed for good by an HTTP error: a signed-out session shows as 401 on /api/me (api() reports it).
    es.close();
    if (source !== es || !handlers) return;
    get('/api/me').catch(() => {});
    setTimeout(() => source === es && connect(), retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  };
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

window.addEventListener('online', () => {
  if (source && source.readyState === EventSource.CLOSED) connect();
});
window.addEventListener('offline', () => handlers && setStatus('offline'));
