/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints where the time went: self time by
 * function and by package, and inclusive (self + callees) time of the top frames.
 *
 *   node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top N] [--match TEXT]
 *
 * --match restricts the inclusive table to frames whose name or file contains TEXT.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  readonly byPackage: { name: string; selfMs: number; share: number }[];
  readonly bySelf: { frame: string; selfMs: number; share: number }[];
  readonly byInclusive: { frame: string; totalMs: number; share: number }[];
}

export function summarizeProfile(profile: Profile, top = 25, match?: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const idleMs = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((s, [, t]) => s + t, 0);
  const busyMs = totalMs - idleMs;

  const selfByFrame = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    selfByFrame.set(frameName(node.callFrame), (selfByFrame.get(frameName(node.callFrame)) ?? 0) + t);
    selfByPackage.set(packageOf(node.callFrame), (selfByPackage.get(packageOf(node.callFrame)) ?? 0) + t);
  }

  // Inclusive time per frame name, counting each frame once per stack (recursion).
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!node || node.callFrame.functionName === '(idle)') break;
      const name = frameName(node.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + t);
    }
  }
  const share = (t: number) => t / busyMs;
  const sorted = <T extends [string, number]>(m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]) as T[];
  return {
    totalMs,
    busyMs,
    byPackage: sorted(selfByPackage).map(([name, t]) => ({ name, selfMs: t, share: share(t) })),
    bySelf: sorted(selfByFrame).slice(0, top).map(([frame, t]) => ({ frame, selfMs: t, share: share(t) })),
    byInclusive: sorted(inclusive)
      .filter(([frame]) => !match || frame.includes(match))
      .slice(0, top)
      .map(([frame, t]) => ({ frame, totalMs: t, share: share(t) })),
  };
}

function frameName(f: CallFrame): string {
  const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

function packageOf(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  if (f.url.startsWith('node:')) return 'node: core';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (nm) return nm[1] as string;
  const dist = /\/dist\/(src\/[^/]+|bench|scripts)\//.exec(f.url);
  return dist ? `cognito-broker ${dist[1]}` : f.url;
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' }, match: { type: 'string' } }, allowPositionals: true });
  const file = positionals[0];
  if (!file) throw new Error('usage: cpuprofile-summary.js FILE.cpuprofile [--top N] [--match TEXT]');
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top ?? 25), values.match);
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  console.log(`profile ${file}: ${s.totalMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms\n\nself time by package:`);
  for (const p of s.byPackage.slice(0, 15)) console.log(`  ${pct(p.share)}  ${p.name}`);
  console.log('\nself time by function:');
  for (const f of s.bySelf) console.log(`  ${pct(f.share)}  ${f.frame}`);
  console.log(`\ninclusive time${values.match ? ` (frames matching "${values.match}")` : ''}:`);
  for (const f of s.byInclusive) console.log(`  ${pct(f.share)}  ${f.frame}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
