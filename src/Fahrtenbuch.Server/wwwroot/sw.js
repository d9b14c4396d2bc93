// Service worker: keeps the app shell so the app opens with no connection. API calls (exports
// included: /api/vehicles/{id}/logbook.*) are never intercepted or cached here; offline data lives
// in the app's own cache and outbox. Bump the version on release.
const version = 'fahrtenbuch-shell-v5';
const shell = [
  '/',
  '/index.html',
  '/manifest.webmanifest',
  '/css/app.css',
  '/icons/icon.svg',
  '/icons/icon-192.png',
  '/icons/icon-512.png',
  '/icons/icon-maskable-512.png',
  '/js/api.js',
  '/js/dom.js',
  '/js/i18n.js',
  '/js/live.js',
  '/js/main.js',
  '/js/outbox.js',
  '/js/store.js',
  '/js/uuid.js',
  '/js/views/board.js',
  '/js/views/charts.js',
  '/js/views/common.js',
  '/js/views/driver.js',
  '/js/views/export.js',
  '/js/views/invite.js',
  '/js/views/login.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(version).then((cache) => cache.addAll(shell)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== version).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Network first (so a deployed update shows at once), the cached shell when the network fails.
self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/health') || url.pathname.startsWith('/openapi')) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok && shell.includes(url.pathname)) {
        const cache = await caches.open(version);
        cache.put(request, response.clone());
      }
      return response;
    } catch (error) {
      const cached = await caches.match(request, { ignoreSearch: true });
      if (cached) return cached;
      // Client-side routes (/drive, /board …) all open the same shell.
      if (request.mode === 'navigate') return (await caches.match('/index.html')) || Response.error();
      throw error;
    }
  })());
});
