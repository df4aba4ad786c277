/**
 * A recording fake `docker`, first on PATH, as the service test fakes systemctl: no Docker
 * daemon runs on these machines. It keeps networks in a state file, answers `network
 * inspect|create|rm`, `build`, `rm`, and for `run` records the arguments and the env file's
 * contents and mode as they are while docker runs. With `exec` set, `run IMAGE COMMAND...`
 * runs COMMAND as the container would: with only the env file's variables (and PATH, HOME),
 * behind `exec` (e.g. `ip netns exec NS`, a network namespace standing in for the container).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DockerCall {
  readonly argv: string[];
  /** For `run --env-file F`: F's contents and mode while docker ran. */
  readonly envFile?: { readonly path: string; readonly content: string; readonly mode: number };
}

export interface FakeDocker {
  /** Directory to put first on PATH. */
  readonly bin: string;
  /** PATH with the fake first. */
  readonly path: string;
  calls(): DockerCall[];
  networks(): Record<string, { subnet: string; gateway: string }>;
  setNetwork(name: string, network: { subnet: string; gateway: string } | undefined): void;
  remove(): void;
}

const SCRIPT = String.raw`
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const dir = __dirname;
const state = JSON.parse(fs.readFileSync(dir + '/state.json', 'utf8'));
const save = () => fs.writeFileSync(dir + '/state.json', JSON.stringify(state));
const argv = process.argv.slice(2);
const record = (extra) => fs.appendFileSync(dir + '/calls.jsonl', JSON.stringify({ argv, ...extra }) + '\n');
const flag = (name) => { const i = argv.indexOf(name); return i === -1 ? undefined : argv[i + 1]; };
const [cmd, sub] = argv;
if (cmd === 'network' && sub === 'inspect') {
  record({});
  const n = state.networks[argv[2]];
  if (!n) { process.stderr.write('Error response from daemon: network ' + argv[2] + ' not found\n'); process.exit(1); }
  process.stdout.write(JSON.stringify([{ Name: argv[2], Driver: 'bridge', IPAM: { Config: [{ Subnet: n.subnet, Gateway: n.gateway }] } }], null, 4) + '\n');
} else if (cmd === 'network' && sub === 'create') {
  record({});
  const name = argv[argv.length - 1];
  if (state.networks[name]) { process.stderr.write('Error response from daemon: network with name ' + name + ' already exists\n'); process.exit(1); }
  state.networks[name] = { subnet: flag('--subnet'), gateway: flag('--gateway') };
  save();
  process.stdout.write('0123456789abcdef\n');
} else if (cmd === 'network' && sub === 'rm') {
  record({});
  if (!state.networks[argv[2]]) { process.stderr.write('Error response from daemon: network ' + argv[2] + ' not found\n'); process.exit(1); }
  delete state.networks[argv[2]];
  save();
  process.stdout.write(argv[2] + '\n');
} else if (cmd === 'build') {
  const context = argv[argv.length - 1];
  record({ dockerfile: fs.existsSync(context + '/Dockerfile') });
} else if (cmd === 'rm') {
  record({});
  process.stderr.write('Error response from daemon: No such container: ' + argv[argv.length - 1] + '\n');
  process.exit(1);
} else if (cmd === 'run') {
  const file = flag('--env-file');
  const envFile = file === undefined ? undefined : { path: file, content: fs.readFileSync(file, 'utf8'), mode: fs.statSync(file).mode & 0o777 };
  record(envFile ? { envFile } : {});
  // Options with a value, as docker run takes them; the first other word is the image.
  const withValue = new Set(['--network', '--env-file', '--name', '-e', '--env', '--ip', '--restart', '--sysctl', '-v', '--volume', '-w', '--entrypoint']);
  let i = 1;
  while (i < argv.length && argv[i].startsWith('-')) i += withValue.has(argv[i]) ? 2 : 1;
  const command = argv.slice(i + 1);
  const exec = JSON.parse(process.env.FAKE_DOCKER_EXEC || '[]');
  if (command.length === 0 || exec.length === 0) process.exit(0);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, PYENV_ROOT: process.env.PYENV_ROOT };
  const given = argv.slice(1, i).flatMap((a, j, all) => (all[j - 1] === '-e' || all[j - 1] === '--env') ? [a] : []);
  for (const line of [...(envFile ? envFile.content : '').split('\n'), ...given]) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  const result = spawnSync(exec[0], [...exec.slice(1), ...command], { env, stdio: 'inherit' });
  process.exit(result.status === null ? 128 : result.status);
} else {
  record({});
  process.stderr.write('fake docker: unknown command ' + argv.join(' ') + '\n');
  process.exit(2);
}
`;

export function fakeDocker(): FakeDocker {
  const bin = mkdtempSync(join(tmpdir(), 'cb-fake-docker-'));
  writeFileSync(join(bin, 'state.json'), JSON.stringify({ networks: {} }));
  writeFileSync(join(bin, 'calls.jsonl'), '');
  writeFileSync(join(bin, 'fake-docker.cjs'), SCRIPT);
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\nexec "${process.execPath}" "${join(bin, 'fake-docker.cjs')}" "$@"\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  const state = () => JSON.parse(readFileSync(join(bin, 'state.json'), 'utf8')) as { networks: Record<string, { subnet: string; gateway: string }> };
  return {
    bin,
    path: `${bin}:${process.env.PATH ?? ''}`,
    calls: () => readFileSync(join(bin, 'calls.jsonl'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as DockerCall),
    networks: () => state().networks,
    setNetwork(name, network) {
      const s = state();
      if (network) s.networks[name] = network;
      else delete s.networks[name];
      writeFileSync(join(bin, 'state.json'), JSON.stringify(s));
    },
    remove: () => rmSync(bin, { recursive: true, force: true }),
  };
}
