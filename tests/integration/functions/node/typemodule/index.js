// An ES module in a .js file, under "type": "module".
export async function handler(event) {
  return { statusCode: 200, body: `type module: ${typeof require}` };
}
