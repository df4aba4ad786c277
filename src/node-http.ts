/**
 * Node's `node:http`, for the modules that use it at run time (`import type` stays as it is).
 * Not an ES import: from Node 22 on, importing node:http builds a module namespace that reads
 * every export, and its WebSocket getter loads Node's bundled undici (fetch, WebSocket), about
 * 10 MB on Node 22 and 13 MB on Node 24 for the life of the process, in every `serve` and
 * every command that talks to it. `process.getBuiltinModule` returns the module as require()
 * does, without reading its getters.
 */
// Pure: a bundle that imports this module without using it (the bin) drops the call.
export const nodeHttp = /* @__PURE__ */ process.getBuiltinModule('node:http');
