// The extension's pure parts: finding the binary, money, inputs, patches, the gate page, the
// output channel's rendering of events.
import { beforeEach, describe, expect, it } from "vitest";
import { findBinary, INSTALL_COMMAND } from "../src/binary";
import { parseInput } from "../src/commands";
import { usd } from "../src/format";
import { gateHtml, isGateMessage } from "../src/gates";
import { RunOutput } from "../src/output";
import { applyPatch, describeNode } from "../src/runs";
import type { NodeView, RunEvent, RunPatch, WaitingGate } from "../src/types/serve";
import { mock, OutputChannel } from "./vscode";

beforeEach(() => mock.reset());

describe("finding relavium", () => {
  const exists = (paths: string[]) => (p: string) => paths.includes(p);
  it("takes the setting first, then PATH, and says how to install it when absent", () => {
    expect(findBinary("/opt/r/relavium", "/usr/bin", exists(["/opt/r/relavium"]))).toEqual({ path: "/opt/r/relavium" });
    expect(findBinary("", "/a:/b", exists(["/b/relavium"]))).toEqual({ path: "/b/relavium" });
    const missing = findBinary("", "/a:/b", exists([]));
    expect("missing" in missing && missing.missing).toContain(INSTALL_COMMAND);
    const wrong = findBinary("relative/relavium", "/b", exists(["/b/relavium"]));
    expect("missing" in wrong && wrong.missing).toContain("absolute path");
  });
});

describe("money and inputs", () => {
  it("prints micro-cents as dollars without floats", () => {
    expect(usd(0)).toBe("$0.00");
    expect(usd(300_000_000)).toBe("$3.00");
    expect(usd(1_234_567)).toBe("$0.012345");
    expect(usd(12_345_678_901)).toBe("$123.456789");
  });
  it("reads an input as its type says, and says why not", () => {
    expect(parseInput({ name: "n", type: "integer" }, "3")).toBe(3);
    expect(parseInput({ name: "n", type: "integer" }, "3.5")).toBe("n is a whole number");
    expect(parseInput({ name: "x", type: "number" }, "")).toBe("x is a number");
    expect(parseInput({ name: "b", type: "boolean" }, "true")).toBe(true);
    expect(parseInput({ name: "o", type: "object" }, '{"a":1}')).toEqual({ a: 1 });
    expect(parseInput({ name: "o", type: "object" }, "[1]")).toBe("o is a JSON object");
    expect(parseInput({ name: "l", type: "array" }, "[1]")).toEqual([1]);
    expect(parseInput({ name: "s", type: "string" }, "hi")).toBe("hi");
  });
});

const node = (id: string, state: NodeView["state"], extra: Partial<NodeView> = {}): NodeView => ({
  id,
  state,
  attempt: 1,
  attempts: [],
  calls: [],
  cost: 0,
  text: "",
  toolCalls: [],
  ...extra,
});

const patch = (nodes: NodeView[], extra: Partial<RunPatch> = {}): RunPatch => ({
  runId: "R1",
  workflow: "w",
  status: "running",
  lastSequence: 1,
  spent: 0,
  reserved: 0,
  nodes,
  events: [],
  ...extra,
});

describe("patches", () => {
  it("replace the rows they carry and keep the others and the order", () => {
    let run = applyPatch(undefined, patch([node("a", "running"), node("b", "pending")], { order: ["a", "b"] }));
    run = applyPatch(run, patch([node("a", "succeeded", { output: "hi", cost: 12 })], { spent: 12, status: "running" }));
    expect(run.order).toEqual(["a", "b"]);
    expect(run.nodes.get("a")?.state).toBe("succeeded");
    expect(run.nodes.get("b")?.state).toBe("pending");
    expect(run.spent).toBe(12);
    const text = describeNode(run, run.nodes.get("a") as NodeView);
    expect(text).toContain("# a — succeeded");
    expect(text).toContain("## Output\n\nhi");
  });
});

describe("the gate page", () => {
  const gate: WaitingGate = {
    runId: "R1",
    nodeId: "approve",
    workflowName: "<script>x</script>",
    message: "Publish <b>now</b>?",
    requestedAt: "2026-12-01T00:00:00Z",
  };
  it("escapes what the workflow wrote and allows only its own script", () => {
    const html = gateHtml(gate, "N0NCE");
    expect(html).not.toContain("<script>x</script>");
    expect(html).toContain("&lt;script&gt;x&lt;/script&gt;");
    expect(html).toContain("Publish &lt;b&gt;now&lt;/b&gt;?");
    expect(html).toContain("script-src 'nonce-N0NCE'");
    expect(html).toContain("default-src 'none'");
  });
  it("accepts only well-formed decisions from the page", () => {
    expect(isGateMessage({ type: "decide", approve: true, comment: "" })).toBe(true);
    expect(isGateMessage({ type: "decide", approve: "yes", comment: "" })).toBe(false);
    expect(isGateMessage(null)).toBe(false);
  });
});

describe("the output channel", () => {
  it("streams each node's tokens under its name and says how the run ended", () => {
    const channel = new OutputChannel("Relavium");
    const out = new RunOutput(channel as never);
    const base = { runId: "R1", timestamp: "2026-12-01T00:00:00Z" };
    const events: RunEvent[] = [
      { ...base, sequenceNumber: 1, type: "run:started", payload: { workflowName: "w", inputs: {}, nodes: ["a"] } },
      { ...base, sequenceNumber: 2, type: "node:started", payload: { nodeId: "a", attempt: 1 } },
      { ...base, sequenceNumber: 3, type: "llm:delta", payload: { nodeId: "a", callId: "c", text: "Hel" } },
      { ...base, sequenceNumber: 4, type: "llm:delta", payload: { nodeId: "a", callId: "c", text: "lo" } },
      { ...base, sequenceNumber: 5, type: "run:completed", payload: { durationMs: 3, outputs: {}, usage: { inputTokens: 1, outputTokens: 1 }, cost: 150_000 } },
    ] as RunEvent[];
    out.write("R1", events);
    expect(channel.text).toBe("▶ w (R1)\n── a ──\nHello✓ completed (R1) · $0.0015\n");
  });
});

describe("the runs model", () => {
  it("counts as running only the runs some process runs, and sums their spend and caps", async () => {
    const { RunsModel } = await import("../src/runs");
    const handlers = new Map<string, (p: unknown) => void>();
    const watched: string[] = [];
    const client = {
      on: (method: string, handler: (p: unknown) => void) => handlers.set(method, handler),
      request: async (method: string, params: { runId?: string }) => {
        if (method === "run/watch" && params.runId) watched.push(params.runId);
        return { subscription: watched.length };
      },
    };
    const model = new RunsModel(client as never, 10);
    const summary = (runId: string, status: string, live: boolean | null, cost = 0) => ({
      runId,
      status,
      live,
      cost,
      lastSequence: 1,
      startedAt: "2026-12-01T00:00:00Z",
      usage: { inputTokens: 0, outputTokens: 0 },
      workflowName: "w",
    });
    handlers.get("runs/changed")?.({
      subscription: 1,
      runs: [summary("A", "running", true, 5), summary("B", "running", false, 7), summary("C", "completed", null, 9)],
    });
    expect(model.live().map((r) => r.runId)).toEqual(["A"]);
    expect(model.spend()).toEqual({ spent: 5, cap: undefined });
    handlers.get("run/patch")?.({ subscription: 1, patch: patch([], { runId: "A", spent: 40, budgetCap: 100 }) });
    expect(model.spend()).toEqual({ spent: 40, cap: 100 });
    // Every run not over is watched (an interrupted one too: a resume elsewhere shows live).
    await new Promise((r) => setTimeout(r, 0));
    expect(watched.sort()).toEqual(["A", "B"]);
  });
});
