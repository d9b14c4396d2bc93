import { ApiError, NetworkError, get, post } from './api.js';
import { h, clear } from './dom.js';
import { t, getLang, setLang, onLangChange } from './i18n.js';
import { startLive, stopLive } from './live.js';
import { flush, refreshCount, dismissNotice } from './outbox.js';
import { state, changed, subscribe, setMe, cachedMe, setVehicles, upsertVehicle, upsertTrip, upsertTrips, seesCompany, isManager, canWrite } from './store.js';
import { loginView } from './views/login.js';
import { inviteView } from './views/invite.js';
import { driveView, myTripsView, lateView, odometerView } from './views/driver.js';
import { boardView, boardTripsView, reviewView, peopleView, vehicleAdminView, chartsView } from './views/board.js';
import { exportView } from './views/export.js';

const routes = {
  '/login': { view: loginView, public: true },
  '/invite': { view: inviteView, public: true },
  '/drive': { view: driveView, nav: 'navDrive', writer: true },
  '/trips': { view: myTripsView, nav: 'navMyTrips', writer: true },
  '/late': { view: lateView, nav: 'navLate', writer: true },
  '/odometer': { view: odometerView, nav: 'navOdometer', writer: true },
  '/board': { view: boardView, nav: 'navBoard', company: true },
  '/board/trips': { view: boardTripsView, nav: 'navTrips', company: true },
  '/board/review': { view: reviewView, nav: 'navReview', company: true },
  '/board/people': { view: peopleView, nav: 'navPeople', company: true },
  '/board/vehicles': { view: vehicleAdminView, nav: 'navVehicles', company: true },
  '/board/charts': { view: chartsView, nav: 'navCharts', company: true },
  // Drivers neither see nor reach it: the server refuses their exports (403 export.forbidden).
  '/board/export': { view: exportView, nav: 'navExport', company: true },
};

const app = document.getElementById('app');
let unmount = null;

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

const homePath = () => (seesCompany() ? '/board' : '/drive');

function allowed(route) {
  if (route.public) return true;
  if (!state.me) return false;
  if (route.company) return seesCompany();
  if (route.writer) return canWrite();
  return true;
}

function render() {
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (!state.me && !routes[path]?.public) return navigate('/login', true);
  if (state.me && (path === '/' || routes[path]?.public)) return navigate(homePath(), true);
  const route = routes[path];
  if (!route || !allowed(route)) return navigate(state.me ? homePath() : '/login', true);
  unmount?.();
  unmount = null;
  pageSubs.splice(0).forEach((off) => off());
  clear(app);
  if (route.public) {
    app.append(route.view({ onLogin: signedIn }));
    return;
  }
  const main = h('main', { id: 'main', class: 'content', tabindex: '-1' });
  app.append(header(path), notices(), main);
  unmount = route.view(main, { navigate }) || null;
  document.title = `${t(route.nav)} · ${t('appName')}`;
}

function header(path) {
  const navItems = Object.entries(routes).filter(([, r]) => r.nav && allowed(r));
  const liveDot = h('span', { class: 'status-dot', 'aria-hidden': 'true' });
  const liveText = h('span', {});
  const live = h('span', { class: 'chip live', testid: 'live-status', role: 'status', 'aria-label': t('liveStatus') }, liveDot, liveText);
  const syncChip = h('span', { class: 'chip sync', testid: 'sync-status', role: 'status', 'aria-label': t('syncStatus') });
  const update = () => {
    live.dataset.state = state.live;
    liveText.textContent = t(`live_${state.live}`);
    const conflicts = state.sync.notices.length;
    const syncState = !state.online ? 'offline' : state.sync.pending > 0 ? (state.sync.syncing ? 'syncing' : 'waiting') : conflicts ? 'conflict' : 'online';
    syncChip.dataset.state = syncState;
    syncChip.textContent = state.sync.pending > 0 && syncState !== 'syncing'
      ? `${!state.online ? t('live_offline') + ' · ' : ''}${t('sync_waiting', { n: state.sync.pending })}`
      : t(`sync_${syncState}`);
  };
  update();
  pageSubs.push(subscribe(update));
  return h('header', { class: 'app-header', testid: 'app-header' },
    h('a', { class: 'skip', href: '#main' }, t('skipToContent')),
    h('div', { class: 'bar' },
      h('a', { class: 'brand', href: homePath(), onclick: link(homePath()) },
        h('img', { src: '/icons/icon.svg', alt: '', width: 28, height: 28 }), h('span', {}, t('appName'))),
      h('div', { class: 'bar-status' }, live, syncChip),
      h('div', { class: 'bar-user' },
        h('span', { class: 'who', testid: 'who' }, h('strong', {}, state.me.displayName), h('small', {}, t(`role_${state.me.role}`))),
        h('button', { type: 'button', class: 'btn btn-ghost', testid: 'lang-toggle', lang: getLang() === 'de' ? 'en' : 'de', onclick: () => setLang(getLang() === 'de' ? 'en' : 'de') }, t('switchLanguage')),
        h('button', { type: 'button', class: 'btn btn-ghost', testid: 'logout', onclick: signOut }, t('signOut')))),
    h('nav', { class: 'tabs', 'aria-label': t('mainNav') },
      navItems.map(([p, r]) => h('a', { href: p, 'aria-current': p === path ? 'page' : null, onclick: link(p), testid: `nav-${p.replaceAll('/', '-').slice(1)}` }, t(r.nav)))));
}
const pageSubs = [];

function notices() {
  const box = h('section', { class: 'notices', 'aria-live': 'polite', testid: 'sync-notices' });
  const update = () => {
    clear(box);
    if (state.sync.notices.length === 0) return;
    box.append(h('h2', { class: 'sr-only' }, t('conflictTitle')));
    for (const n of state.sync.notices) {
      const text = n.kind === 'conflict'
        ? t('conflictSaved', { reasons: (n.reasons || []).map((r) => t(`reason_${r}`)).join(', ') || n.detail || '' })
        : t('conflictRejected', { detail: n.detail });
      box.append(h('div', { class: `notice notice-${n.kind}`, role: 'alert', testid: `notice-${n.kind}` },
        h('span', {}, text),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => dismissNotice(n.key) }, t('dismiss'))));
    }
  };
  update();
  pageSubs.push(subscribe(update));
  return box;
}

export const link = (path) => (e) => {
  if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(path);
};

async function signedIn(me) {
  setMe(me);
  await boot();
  navigate(homePath(), true);
}

async function signOut() {
  stopLive();
  try {
    await post('/api/auth/logout');
  } catch {
    // Signing out locally is what matters; the session ends on the server when it can be told.
  }
  setMe(null);
  navigate('/login', true);
}

// Snapshot first, then the stream: events that arrive while the snapshot loads are held back and
// applied afterwards if they are newer than the snapshot's log position.
let buffering = null;
export async function loadSnapshot() {
  buffering = [];
  try {
    const snapshot = await get('/api/live/snapshot');
    setVehicles(snapshot.vehicles);
    upsertTrips(snapshot.activeTrips || []);
    state.position = snapshot.position;
    const held = buffering;
    buffering = null;
    held.filter((e) => state.position == null || e.id == null || e.id > state.position).forEach(apply);
    window.dispatchEvent(new CustomEvent('fahrtenbuch:resync'));
  } catch (error) {
    buffering = null;
    if (!(error instanceof NetworkError)) console.warn('snapshot failed', error);
  }
}

function onEvent(event) {
  if (buffering) {
    buffering.push(event);
    return;
  }
  if (event.id != null && state.position != null && event.id <= state.position) return;
  apply(event);
}

function apply(event) {
  if (event.id != null) state.position = event.id;
  const { type, data } = event;
  if (type === 'reset') {
    loadSnapshot();
    return;
  }
  if (type === 'shutdown') {
    state.live = 'connecting';
    changed();
    return;
  }
  if (type.startsWith('vehicle.') && data?.id) upsertVehicle(data);
  else if (type.startsWith('trip.') && data?.id) upsertTrip(data);
  else if (type === 'user.disabled' && data?.userId === state.me?.id) signOut();
  window.dispatchEvent(new CustomEvent('fahrtenbuch:event', { detail: event }));
}

async function boot() {
  await refreshCount();
  startLive({
    onEvent,
    onStatus: (s) => {
      state.live = s;
      changed();
    },
    onResync: loadSnapshot,
  });
  await loadSnapshot();
  flush();
}

window.addEventListener('popstate', render);
window.addEventListener('fahrtenbuch:unauthenticated', () => {
  if (!state.me) return;
  stopLive();
  setMe(null);
  navigate('/login', true);
});
onLangChange(() => render());

async function start() {
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
  try {
    setMe(await get('/api/me'));
  } catch (error) {
    // Offline with a known user: keep working from the cache and the outbox.
    if (error instanceof NetworkError && cachedMe()) setMe(cachedMe());
    else if (!(error instanceof ApiError && error.status === 401)) console.warn(error);
    if (error instanceof NetworkError) state.online = false;
  }
  if (state.me) boot();
  render();
}

start();
export { isManager };
