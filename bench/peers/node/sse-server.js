// Plain Node HTTP Server-Sent Events broadcaster: GET /events streams, POST /publish fans out.
'use strict';
const { createServer, listen } = require('./common');

const clients = new Set();
let id = 0;
const server = createServer((body) => {
  id += 1;
  const frame = `id: ${id}\nevent: message\ndata: ${body}\n\n`;
  for (const res of clients) res.write(frame);
}, (req, res) => {
  if (req.method !== 'GET' || !req.url.startsWith('/events')) return false;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write('retry: 2000\n\n');
  clients.add(res);
  req.on('close', () => clients.delete(res));
  return true;
}, () => clients.size);
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
listen(server);
