// A chat backend as written for Lambda: it answers the caller through the @connections API,
// with the SDK that the Node.js runtime provides.
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

export const handler = async (event) => {
  const { domainName, stage, connectionId } = event.requestContext;
  // AWS builds https://{domainName}/{stage}; a local listener without TLS serves http.
  const scheme = process.env.CALLBACK_SCHEME ?? 'https';
  const client = new ApiGatewayManagementApiClient({ endpoint: `${scheme}://${domainName}/${stage}` });
  const data = JSON.parse(event.body).data;
  await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: `node says: ${data}` }));
  return { statusCode: 200 };
};
