// Shared by the peers: parse the port, accept POST /publish bodies and report how many clients are connected.
'use strict';
const http = require('http');

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function createServer(onPublish, onOtherRequest, clientCount) {
  return http.createServer(async (req, res) => {
    if (req.method === 'POST' && req.url === '/publish') {
      const body = await readBody(req);
      onPublish(body);
      res.writeHead(204).end();
    } else if (req.method === 'GET' && req.url === '/clients') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(String(clientCount()));
    } else if (!onOtherRequest || !onOtherRequest(req, res)) {
      res.writeHead(404).end();
    }
  });
}

function listen(server) {
  const port = Number(process.argv[2] || 0);
  server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
}

module.exports = { createServer, listen };
