/**
 * Node's `node:http`, for the modules that use it at run time (`import type` stays as it is).
 * Not an ES import: from Node 22 on, importing node:http builds a module namespace that reads
 * every export, and its WebSocket getter loads Node's bundled undici (fetch, WebSocket) for the
 * life of the process: about 3 MB in `serve` (10-13 MB in a process that loads little else)
 * and some of its start-up. `process.getBuiltinModule` returns the module as require() does,
 * without reading its getters.
 */
// Pure: a bundle that imports this module without using it (the bin) drops the call.
export const nodeHttp = /* @__PURE__ */ process.getBuiltinModule('node:http');
