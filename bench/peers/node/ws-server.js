// Node `ws` broadcast server: every POST /publish body goes to every open WebSocket.
'use strict';
const { WebSocketServer } = require('ws');
const { createServer, listen } = require('./common');

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const server = createServer((body) => {
  for (const client of wss.clients) {
    if (client.readyState === 1) client.send(body);
  }
}, null, () => wss.clients.size);
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
listen(server);
