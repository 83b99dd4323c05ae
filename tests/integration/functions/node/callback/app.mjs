// Handlers that call the gateway back as they would on AWS, with no local settings.
import net from 'node:net';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

async function replyThrough(client, event, text) {
  const { connectionId } = event.requestContext;
  await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: text }));
  return { statusCode: 200 };
}

// The URL AWS gives the API, as a template's Fn::Sub builds it (CALLBACK_URL).
export const hardcoded = (event) =>
  replyThrough(new ApiGatewayManagementApiClient({ endpoint: process.env.CALLBACK_URL }), event, 'node: hard-coded');

// https://{domainName}/{stage}, as AWS's samples build it.
export const fromEvent = (event) => {
  const { domainName, stage } = event.requestContext;
  const client = new ApiGatewayManagementApiClient({ endpoint: `https://${domainName}/${stage}` });
  return replyThrough(client, event, 'node: from the event');
};

// No endpoint at all: the SDK reads AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI.
export const byDefault = (event) =>
  replyThrough(new ApiGatewayManagementApiClient({}), event, 'node: default endpoint');

// Where a connection to each name's port 443 lands (or the error).
function connectTo(name) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: name, port: 443 });
    const done = (answer) => { socket.destroy(); resolve(answer); };
    socket.setTimeout(3000, () => done('timeout'));
    socket.on('connect', () => done([socket.remoteAddress, socket.remotePort]));
    socket.on('error', (error) => done(error.code ?? error.name));
  });
}

export const resolve = async (event) => {
  const answers = {};
  for (const name of JSON.parse(event.body).names) answers[name] = await connectTo(name);
  return { statusCode: 200, body: JSON.stringify(answers) };
};
