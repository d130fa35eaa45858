// How numbers read on screen. Money is integer micro-cents (1 USD = 100,000,000), printed as
// the engine prints it: dollars with six decimals, integer arithmetic only.
export const PER_USD = 100_000_000;

export function money(microCents: number): string {
  const whole = Math.floor(microCents / PER_USD);
  const microDollars = Math.floor((microCents % PER_USD) / 100);
  return `$${whole}.${String(microDollars).padStart(6, "0")}`;
}

/** Milliseconds between two RFC 3339 times (`undefined` while the second is unknown). */
export function millisBetween(start?: string | null, end?: string | null): number | undefined {
  if (!start || !end) return undefined;
  return Date.parse(end) - Date.parse(start);
}

export function duration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function time(iso?: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}
