// wsgate's Node.js runtime: runs one Lambda handler against the Runtime API.
//
// Started by the gateway as `node bootstrap.mjs` in the function's folder, with Lambda's
// environment (_HANDLER, LAMBDA_TASK_ROOT, AWS_LAMBDA_RUNTIME_API, ...). It behaves as the
// runtime of Lambda's nodejs images does: the handler string `path/to/file.export.nested`,
// CommonJS and ES modules, async and callback handlers, the context object, console lines
// tagged with the request id, and Lambda's error documents (init errors go to /init/error).
import * as nodeModule from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const BASE = '/2018-06-01/runtime';
const require = nodeModule.createRequire(import.meta.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let currentRequestId;

// -- the Runtime API --------------------------------------------------------------------------

function call(method, route, body, headers = {}) {
  const [hostname, port] = API.split(':');
  return new Promise((resolve, reject) => {
    const request = http.request(
      { agent, hostname, port, method, path: BASE + route, headers },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function post(route, value, headers = {}) {
  const body = Buffer.from(JSON.stringify(value));
  return call('POST', route, body, {
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    ...headers,
  });
}

function postError(route, error) {
  const document = toErrorDocument(error);
  return post(route, document, { 'Lambda-Runtime-Function-Error-Type': document.errorType });
}

// -- errors -----------------------------------------------------------------------------------

class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = `Runtime.${type}`;
  }
}

function toErrorDocument(error) {
  try {
    if (util.types.isNativeError(error) || (error && typeof error.stack === 'string')) {
      return {
        errorType: String(error.name),
        errorMessage: String(error.message),
        trace: String(error.stack).split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'the error could not be described', trace: [] };
  }
}

// -- console ----------------------------------------------------------------------------------

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(...args)}\n`;
      process.stdout.write(line);
    };
  }
}

// -- loading the handler ----------------------------------------------------------------------

function packageIsModule(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (path.basename(dir) === 'node_modules') return false;
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

function isFile(file) {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function loadModule(root, moduleRoot, name) {
  const file = path.resolve(root, moduleRoot, name);
  if (isFile(file)) return require(file);
  const esm = packageIsModule(path.dirname(file));
  if (isFile(`${file}.js`)) {
    return esm ? import(pathToFileURL(`${file}.js`).href) : require(`${file}.js`);
  }
  if (isFile(`${file}.mjs`)) return import(pathToFileURL(`${file}.mjs`).href);
  if (isFile(`${file}.cjs`)) return require(`${file}.cjs`);
  return require(require.resolve(name, { paths: [root, path.resolve(root, moduleRoot)] }));
}

async function loadHandler(root, handler) {
  if (handler.includes('..')) {
    throw new RuntimeError(
      'MalformedHandlerName',
      `'${handler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(handler);
  const moduleRoot = handler.slice(0, handler.length - base.length);
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new RuntimeError('MalformedHandlerName', 'Bad handler');
  let app;
  try {
    app = await loadModule(root, moduleRoot, match[1]);
  } catch (error) {
    if (error instanceof SyntaxError) throw new RuntimeError('UserCodeSyntaxError', String(error));
    if (error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new RuntimeError('ImportModuleError', String(error));
    }
    throw error;
  }
  const found = match[2].split('.').reduce((value, key) => value?.[key], app);
  if (!found) throw new RuntimeError('HandlerNotFound', `${handler} is undefined or not exported`);
  if (typeof found !== 'function') throw new RuntimeError('HandlerNotFound', `${handler} is not a function`);
  return found;
}

// -- invoking it ------------------------------------------------------------------------------

function buildContext(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  const env = process.env;
  const parse = (text) => (text ? JSON.parse(text) : undefined);
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parse(headers['lambda-runtime-cognito-identity']),
    clientContext: parse(headers['lambda-runtime-client-context']),
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
}

// Settles with {error} or {value}: a returned promise settles at once; a callback (or the legacy
// done/succeed/fail) settles when the event loop is empty, unless the handler set
// callbackWaitsForEmptyEventLoop to false; a handler that does neither answers null then.
function invoke(handler, event, context) {
  return new Promise((settle) => {
    let outcome;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      process.removeListener('beforeExit', onEmptyLoop);
      settle(result);
    };
    const onEmptyLoop = () => finish(outcome ?? { value: null });
    const waitForEmptyLoop = () => {
      if (!process.listeners('beforeExit').includes(onEmptyLoop)) process.on('beforeExit', onEmptyLoop);
    };
    const callback = (error, value) => {
      if (outcome) return;
      outcome = error !== undefined && error !== null ? { error } : { value };
      if (context.callbackWaitsForEmptyEventLoop) waitForEmptyLoop();
      else finish(outcome);
    };
    context.done = callback;
    context.succeed = (value) => callback(null, value);
    context.fail = (error) => callback(error ?? 'handled');
    try {
      const result = handler(event, context, callback);
      if (result && typeof result.then === 'function') {
        result.then(
          (value) => finish({ value }),
          (error) => finish({ error: error ?? new Error('the handler rejected without a reason') }),
        );
      } else if (handler.length < 3) {
        waitForEmptyLoop();
      }
    } catch (error) {
      finish({ error });
    }
  });
}

async function answer(requestId, outcome) {
  const route = `/invocation/${requestId}`;
  if ('error' in outcome) {
    const document = toErrorDocument(outcome.error);
    console.error('Invoke Error', `\t${JSON.stringify({ ...document, stack: document.trace })}`);
    return postError(`${route}/error`, outcome.error);
  }
  let body;
  try {
    body = JSON.stringify(outcome.value === undefined ? null : outcome.value);
  } catch (error) {
    return postError(`${route}/error`, error);
  }
  const bytes = Buffer.from(body);
  const reply = await call('POST', `${route}/response`, bytes, {
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
  });
  if (reply.status === 413) {
    return postError(`${route}/error`, new RuntimeError('ResponseSizeTooLarge', reply.body.toString()));
  }
  return reply;
}

async function fatal(error, type) {
  // An error escaping the handler's own flow: report it, then exit, as Lambda's runtime does.
  const failure = type ? Object.assign(new Error(String(error?.message ?? error)), { name: type }) : error;
  console.error(`${type ?? 'Uncaught Exception'}`, `\t${JSON.stringify(toErrorDocument(failure))}`);
  try {
    const route = currentRequestId ? `/invocation/${currentRequestId}/error` : '/init/error';
    await postError(route, failure);
  } finally {
    process.exit(129);
  }
}

async function main() {
  patchConsole();
  if (typeof nodeModule.register === 'function' && !process.execArgv.some((a) => a.includes('loader'))) {
    nodeModule.register('./hooks.mjs', import.meta.url);
  }
  process.on('uncaughtException', (error) => fatal(error));
  process.on('unhandledRejection', (reason) => fatal(reason, 'Runtime.UnhandledPromiseRejection'));
  let handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), process.env._HANDLER || '');
  } catch (error) {
    console.error('Init Error', `\t${JSON.stringify(toErrorDocument(error))}`);
    await postError('/init/error', error);
    process.exit(129);
  }
  for (;;) {
    currentRequestId = undefined;
    const next = await call('GET', '/invocation/next');
    if (next.status !== 200) process.exit(1);
    const context = buildContext(next.headers);
    currentRequestId = context.awsRequestId;
    if (next.headers['lambda-runtime-trace-id']) {
      process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    }
    let event;
    try {
      event = JSON.parse(next.body.toString('utf8'));
    } catch (error) {
      await answer(currentRequestId, { error });
      continue;
    }
    await answer(currentRequestId, await invoke(handler, event, context));
  }
}

main().catch((error) => {
  // The Runtime API is gone (the gateway stopped): nothing left to serve.
  process.stderr.write(`wsgate node runtime: ${error?.stack ?? error}\n`);
  process.exit(1);
});
