/**
 * What the commands other tools run often cost: spawn to exit of the compiled CLI's
 * `status --prompt` (a shell prompt), `token` (a script's bearer token) and `credential-process`
 * (an AWS profile's credential_process), with the real `serve` running, each against a bare
 * `node -e 0` started alternately with it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerStack } from './support/broker-stack.js';
import { median, round, sleep } from './support/stats.js';

/** The target: within this multiple of a bare node start. */
export const PROMPT_VS_NODE_TARGET = 1.5;

/** The commands measured, as a user (or a tool) types them. */
export const SPAWN_COMMANDS = [['status', '--prompt'], ['token'], ['credential-process']] as const;

export interface CommandSpawn {
  /** The command line after `cognito-broker`. */
  readonly command: string;
  /** How long its output was (the last run): an answer, not an error. */
  readonly outputChars: number;
  readonly commandMs: number[];
  readonly nodeMs: number[];
  readonly medians: { readonly command: number; readonly node: number };
  /** median(command) ÷ median(node). */
  readonly ratio: number;
}

export interface PromptSpawnResult {
  readonly runs: number;
  /** What `status --prompt` printed (the last run). */
  readonly line: string;
  readonly commands: CommandSpawn[];
}

export async function runPromptSpawn(bs: BrokerStack, runs: number): Promise<PromptSpawnResult> {
  bs.setServerPort(0);
  const serve = await bs.serve();
  try {
    await untilReady(join(bs.env.XDG_STATE_HOME as string, 'cognito-broker', 'prompt.json'));
    const env = { ...bs.env, NODE_NO_WARNINGS: '1' };
    const commands: CommandSpawn[] = [];
    let line = '';
    for (const args of SPAWN_COMMANDS) {
      const measured = await alternate(() => timeSpawn([bs.cli, ...args], env), () => timeSpawn(['-e', '0'], env), runs);
      if (args[0] === 'status') line = measured.stdout.trim();
      commands.push({ command: args.join(' '), ...measured.figures, outputChars: measured.stdout.trim().length });
    }
    return { runs, line, commands };
  } finally {
    await serve.stop();
  }
}

/** `runs` timings of each, alternating which goes first, after one untimed run of each. */
async function alternate(command: () => Promise<{ ms: number; stdout: string }>, bare: () => Promise<{ ms: number }>, runs: number) {
  // The OS file cache (and Node's compile cache) warm, as in a shell in use.
  await command();
  await bare();
  const commandMs: number[] = [];
  const nodeMs: number[] = [];
  let stdout = '';
  for (let i = 0; i < runs; i += 1) {
    const pair = [async () => {
      const r = await command();
      commandMs.push(r.ms);
      stdout = r.stdout;
    }, async () => nodeMs.push((await bare()).ms)];
    for (const run of i % 2 === 0 ? pair : pair.reverse()) await run();
  }
  const medians = { command: median(commandMs), node: median(nodeMs) };
  return { stdout, figures: { commandMs: commandMs.map((v) => round(v, 1)), nodeMs: nodeMs.map((v) => round(v, 1)), medians, ratio: round(medians.command / medians.node, 2) } };
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
