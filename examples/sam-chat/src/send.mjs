// sendmessage: post the message's data to every connection; forget those that are gone.
import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const api = new ApiGatewayManagementApiClient({ endpoint: process.env.CALLBACK_URL });

export const handler = async (event) => {
  const data = JSON.parse(event.body).data;
  const { Items: connections = [] } = await db.send(
    new ScanCommand({ TableName: process.env.TABLE_NAME, ProjectionExpression: 'connectionId' }),
  );
  await Promise.all(connections.map(async ({ connectionId }) => {
    try {
      await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    } catch (error) {
      if (!(error instanceof GoneException)) throw error;
      await db.send(new DeleteCommand({ TableName: process.env.TABLE_NAME, Key: { connectionId } }));
    }
  }));
  return { statusCode: 200, body: 'Sent.' };
};
