import { RequestError } from '../shared/request-error.js';

const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "1h30m", "90s", "1d": a duration of whole seconds, for `--every`, `--jitter`, `--catchup-window`. */
export function parseDuration(text: string, option: string): number {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text)
    throw new RequestError(`${option} ${text}: expected a duration such as 90s, 10m, 1h30m or 1d`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * (unitMs[p[2] as string] as number), 0);
}

/** 600000 → "10m", 5400000 → "1h30m": the shortest spelling parseDuration reads back. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / 1000);
  let out = '';
  for (const [u, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${u}`;
    rest -= n * size;
  }
  return out;
}
