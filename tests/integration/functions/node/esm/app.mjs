// An ES module handler of the Node.js runtime tests.
import { basename } from 'node:path';

export const handler = async (event) => ({
  statusCode: 200,
  body: `esm ${basename(import.meta.url)}: ${event.body}`,
});
