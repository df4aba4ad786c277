/**
 * What `status --prompt` costs a shell prompt: spawn to exit of the compiled CLI, with the
 * real `serve` running (it keeps the prompt file), against a bare `node -e 0`, alternating.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerStack } from './support/broker-stack.js';
import { median, round, sleep } from './support/stats.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** The target: within this multiple of a bare node start. */
export const PROMPT_VS_NODE_TARGET = 1.5;

export interface PromptSpawnResult {
  readonly runs: number;
  /** What the command printed (the last run). */
  readonly line: string;
  readonly promptMs: number[];
  readonly nodeMs: number[];
  readonly medians: { readonly prompt: number; readonly node: number };
  /** median(prompt) ÷ median(node). */
  readonly ratio: number;
}

export async function runPromptSpawn(bs: BrokerStack, runs: number): Promise<PromptSpawnResult> {
  bs.setServerPort(0);
  const serve = await bs.serve();
  try {
    await untilReady(join(bs.env.XDG_STATE_HOME as string, 'cognito-broker', 'prompt.json'));
    const env = { ...bs.env, NODE_NO_WARNINGS: '1' };
    const prompt = () => timeSpawn([CLI, 'status', '--prompt'], env);
    const bare = () => timeSpawn(['-e', '0'], env);
    // One untimed run of each first: the OS file cache (and Node's compile cache), as in a shell in use.
    await prompt();
    await bare();
    const promptMs: number[] = [];
    const nodeMs: number[] = [];
    let line = '';
    for (let i = 0; i < runs; i += 1) {
      const pair = [async () => {
        const r = await prompt();
        promptMs.push(r.ms);
        line = r.stdout.trim();
      }, async () => nodeMs.push((await bare()).ms)];
      for (const run of i % 2 === 0 ? pair : pair.reverse()) await run();
    }
    const medians = { prompt: median(promptMs), node: median(nodeMs) };
    return { runs, line, promptMs: promptMs.map((v) => round(v, 1)), nodeMs: nodeMs.map((v) => round(v, 1)), medians, ratio: round(medians.prompt / medians.node, 2) };
  } finally {
    await serve.stop();
  }
}

async function untilReady(file: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const states = Object.values((JSON.parse(readFileSync(file, 'utf8')) as { profiles: Record<string, { state: string }> }).profiles).map((p) => p.state);
      if (states.length > 0 && states.every((s) => s === 'ready')) return;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new Error(`${file} never said ready`);
    await sleep(50);
  }
}

function timeSpawn(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.once('error', reject);
    child.once('close', () => resolve({ ms: performance.now() - started, stdout }));
  });
}
