// The same backend in CommonJS: require() finds the SDK through NODE_PATH.
const { ApiGatewayManagementApiClient, PostToConnectionCommand } = require('@aws-sdk/client-apigatewaymanagementapi');

exports.handler = async (event) => {
  const { domainName, stage, connectionId } = event.requestContext;
  const scheme = process.env.CALLBACK_SCHEME ?? 'https';
  const client = new ApiGatewayManagementApiClient({ endpoint: `${scheme}://${domainName}/${stage}` });
  await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'cjs says hi' }));
  return { statusCode: 200 };
};
