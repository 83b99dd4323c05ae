// A handler file that cannot be parsed.
exports.handler = async (event) => {
  return { statusCode: 200 body: 'missing comma' };
};
