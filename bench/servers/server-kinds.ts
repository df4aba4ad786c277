/** The servers the throughput benchmark compares: the broker and its two baselines. */
export const SERVER_KINDS = ['broker', 'node-http', 'fastify'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
