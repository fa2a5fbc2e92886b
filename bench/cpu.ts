/**
 * CPU seconds per process group over an interval, from /proc: each process counts for the group whose
 * root (a sandbox part's recorded pid, or a pid the benchmark started) is its ancestor. Reaped children
 * count for their parent (cutime/cstime), so short-lived processes (rucio upload, daemons) are included.
 */
import fs from 'node:fs';
import path from 'node:path';

const ticksPerSecond = 100; // USER_HZ on Linux

interface ProcStat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of proc(5), counted from 1 with pid and comm.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
  return { ppid: Number(f[1]), ticks };
}

/** The sandbox's parts by name, from their pid files (temporal, postgres, rucio-server, xrootd-...). */
export function sandboxRoots(runDir: string): Map<number, string> {
  const roots = new Map<number, string>();
  for (const f of fs.readdirSync(runDir)) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(fs.readFileSync(path.join(runDir, f), 'utf8').trim());
    const name = f.replace(/\.pid$/, '');
    if (Number.isInteger(pid) && pid > 0)
      roots.set(pid, name.startsWith('xrootd-') ? 'xrootd' : name.replace(/-tls$/, ''));
  }
  return roots;
}

/** CPU ticks per group now; `roots` maps a root pid to its group. */
export function cpuSnapshot(roots: Map<number, string>): Map<string, number> {
  const stats = new Map<number, ProcStat>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readStat(Number(d));
    if (s) stats.set(Number(d), s);
  }
  const out = new Map<string, number>();
  for (const [pid, s] of stats) {
    let p: number | undefined = pid;
    let group: string | undefined;
    for (let hops = 0; p && hops < 64 && !group; hops++) {
      group = roots.get(p);
      p = stats.get(p)?.ppid;
    }
    if (group) out.set(group, (out.get(group) ?? 0) + s.ticks);
  }
  return out;
}

/** Seconds of CPU per group between two snapshots (a group that lost processes may read low). */
export function cpuSeconds(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [g, t] of after) out[g] = Math.round(((t - (before.get(g) ?? 0)) / ticksPerSecond) * 10) / 10;
  return out;
}

/** The machine's CPU time so far, from /proc/stat's first line: busy (all but idle and iowait) and steal. */
function machineTicks(): { busy: number; idle: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, ...number[]];
  return { busy: user + nice! + system! + irq! + softirq!, idle: idle! + iowait!, steal: steal ?? 0 };
}

/**
 * Samples the machine's CPU use every `everyMs` (wall clock in ms since the epoch): what share of the
 * cores was busy between two moments. Shows where a run leaves cores idle (its start, its drain).
 */
export class CoreUse {
  private readonly samples: Array<{ at: number; busy: number; idle: number; steal: number }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 250) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    this.samples.push({ at: Date.now(), ...machineTicks() });
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** Busy share of all cores (0..1) and stolen share between `from` and `to` (nearest samples inside). */
  between(from: number, to: number): { busy: number; steal: number } {
    const inside = this.samples.filter((s) => s.at >= from && s.at <= to);
    const a = inside[0];
    const b = inside[inside.length - 1];
    if (!a || !b || a === b) return { busy: NaN, steal: NaN };
    const all = b.busy - a.busy + (b.idle - a.idle) + (b.steal - a.steal);
    return all > 0 ? { busy: (b.busy - a.busy) / all, steal: (b.steal - a.steal) / all } : { busy: NaN, steal: NaN };
  }
}
