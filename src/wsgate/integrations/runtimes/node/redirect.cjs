// Calls back to the gateway from wsgate's Node.js runtime, loaded with `node --require`.
//
// A handler written for AWS posts to https://{apiId}.execute-api.{region}.amazonaws.com/{stage}
// or to https://{domainName}/{stage}. The gateway lists those names (host, port, and the port of
// its loopback listener for functions) in WSGATE_CALLBACK_REDIRECTS; every socket this process
// opens to one of them goes to 127.0.0.1 on that port instead. Only the address changes: TLS
// still sends the original name as SNI and checks the certificate against it, and the gateway's
// CA reaches Node.js through NODE_EXTRA_CA_CERTS. Any other name connects as usual.
'use strict';

const net = require('node:net');

function canonical(host) {
  let name = String(host).toLowerCase().replace(/\.$/, '');
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  return net.isIPv6(name) ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name;
}

function readRedirects(text) {
  const table = new Map();
  let entries;
  try {
    entries = JSON.parse(text || '[]');
  } catch {
    return table;
  }
  if (!Array.isArray(entries)) return table;
  for (const entry of entries) {
    if (Array.isArray(entry) && entry.length === 3 && typeof entry[0] === 'string') {
      table.set(`${canonical(entry[0])} ${Number(entry[1])}`, Number(entry[2]));
    }
  }
  return table;
}

const redirects = readRedirects(process.env.WSGATE_CALLBACK_REDIRECTS);

function target(host, port) {
  if (port === undefined || port === null) return undefined;
  return redirects.get(`${canonical(host ?? 'localhost')} ${Number(port)}`);
}

if (redirects.size > 0) {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connectRedirected(...args) {
    const [first] = args;
    if (Array.isArray(first)) {
      // Node's own normalised form, [options, callback], marked by a symbol of Node's: its
      // options are replaced in place (a copy of them, the caller's object stays as it was).
      const options = first[0];
      const port = typeof options === 'object' && options !== null && options.path == null
        ? target(options.host, options.port)
        : undefined;
      if (port !== undefined) first[0] = { ...options, host: '127.0.0.1', port };
    } else if (typeof first === 'object' && first !== null && first.path == null) {
      const port = target(first.host, first.port);
      if (port !== undefined) args[0] = { ...first, host: '127.0.0.1', port };
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      const host = typeof args[1] === 'string' ? args[1] : undefined;
      const port = target(host, first);
      if (port !== undefined) {
        args[0] = port;
        if (host !== undefined) args[1] = '127.0.0.1';
        else args.splice(1, 0, '127.0.0.1');
      }
    }
    return connect.apply(this, args);
  };
}
