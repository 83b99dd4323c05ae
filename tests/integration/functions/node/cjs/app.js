// CommonJS handlers of the Node.js runtime tests.
const os = require('node:os');

exports.echo = async (event, context) => ({
  event,
  pid: process.pid,
  context: {
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
    remaining: context.getRemainingTimeInMillis(),
  },
  env: Object.fromEntries(
    ['_HANDLER', 'LAMBDA_TASK_ROOT', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_REGION', 'TZ']
      .map((name) => [name, process.env[name]]),
  ),
  cwd: process.cwd(),
  host: os.hostname() !== '',
});

exports.reply = async (event) => ({ statusCode: 200, body: `cjs: ${event.body}` });

// Callback style: the answer goes out once the event loop is empty (the timer has fired).
exports.callback = (event, context, callback) => {
  let fired = false;
  setTimeout(() => {
    fired = true;
  }, 50);
  callback(null, { statusCode: 200, body: 'callback' });
  process.nextTick(() => console.log('timer fired before the answer?', fired));
};

exports.noWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => {}, 60_000); // would hold the answer for a minute otherwise
  callback(null, { statusCode: 200, body: 'no wait' });
};

exports.legacy = (event, context) => {
  context.succeed({ statusCode: 200, body: 'succeed' });
};

exports.callbackError = (event, context, callback) => callback(new TypeError('bad input'));

exports.nested = { deeper: { handler: async () => ({ statusCode: 200, body: 'nested' }) } };

exports.remaining = async (event, context) => {
  const first = context.getRemainingTimeInMillis();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { first, second: context.getRemainingTimeInMillis() };
};

exports.hang = async () => new Promise(() => setInterval(() => {}, 1000));

exports.fail = async () => {
  class ChatError extends Error {}
  ChatError.prototype.name = 'ChatError';
  throw new ChatError('no such room');
};

exports.log = async (event, context) => {
  console.log('hello from', context.functionName);
  return null;
};

exports.notAFunction = 42;
