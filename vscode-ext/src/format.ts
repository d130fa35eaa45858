// Money and states as the extension shows them. Money is integer micro-cents
// (1 USD = 100,000,000 µ¢), never a float until it is printed.
import type { NodeState } from "./types/serve";

const PER_USD = 100_000_000;

/** Dollars with at least two decimals and at most six: `$3.00`, `$0.012345`. */
export function usd(microCents: number): string {
  const whole = Math.floor(microCents / PER_USD);
  const fraction = (microCents % PER_USD).toString().padStart(8, "0").slice(0, 6).replace(/0+$/, "");
  return `$${whole}.${fraction.padEnd(2, "0")}`;
}

/** The codicon of a node state. */
export function stateIcon(state: NodeState): string {
  switch (state) {
    case "pending":
      return "circle-outline";
    case "running":
      return "loading~spin";
    case "retrying":
      return "sync";
    case "waiting":
      return "bell";
    case "succeeded":
      return "pass";
    case "failed":
      return "error";
    case "skipped":
      return "debug-step-over";
    case "cancelled":
      return "circle-slash";
  }
}

/** The codicon of a run's status. */
export function runIcon(status: string, live: boolean): string {
  switch (status) {
    case "completed":
      return "pass-filled";
    case "failed":
      return "error";
    case "cancelled":
      return "circle-slash";
    case "paused":
      return "debug-pause";
    default:
      return live ? "loading~spin" : "debug-disconnect";
  }
}
