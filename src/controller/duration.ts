// Durations in the controller's configuration (environment of its Deployment).

const DURATION_UNITS_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };

/** `24h`, `90m`, `3600s` or `0`. */
export function parseDuration(name: string, text: string): number {
  if (text.trim() === '0') return 0;
  const match = /^(\d+)(s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`${name} must be a duration such as 24h, 90m or 3600s (or 0 for never), not ${JSON.stringify(text)}`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
}
