// socket.io broadcast server restricted to the WebSocket transport.
'use strict';
const { Server } = require('socket.io');
const { createServer, listen } = require('./common');

let io;
const server = createServer((body) => io.emit('event', body), null, () => io.engine.clientsCount);
io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
listen(server);
