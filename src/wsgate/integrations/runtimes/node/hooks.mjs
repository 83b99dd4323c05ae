// Module resolution hooks of wsgate's Node.js runtime.
//
// CommonJS finds the AWS SDK that Lambda provides through NODE_PATH; ES modules ignore
// NODE_PATH, so a bare specifier that the function's own node_modules cannot resolve is tried
// again from each NODE_PATH folder, in order. The function's own packages always come first.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const parents = (process.env.NODE_PATH || '')
  .split(path.delimiter)
  .filter(Boolean)
  .map((folder) => {
    // Resolving "from" a file beside a node_modules folder searches that folder.
    const base = path.basename(folder) === 'node_modules' ? path.dirname(folder) : folder;
    return pathToFileURL(path.join(base, 'wsgate-resolve.mjs')).href;
  });

function isBare(specifier) {
  return !/^(?:[./]|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) {
      throw error;
    }
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // not there either: try the next folder
      }
    }
    throw error;
  }
}
