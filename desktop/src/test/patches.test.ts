import { describe, expect, it } from "vitest";
import { applyPatch, emptyRun, fromView, rows } from "../run/patches";
import type { NodeView, RunPatch, RunView } from "../types/desktop";

const node = (id: string, extra: Partial<NodeView> = {}): NodeView => ({
  id,
  state: "pending",
  attempt: 0,
  text: "",
  cost: 0,
  calls: [],
  toolCalls: [],
  attempts: [],
  ...extra,
});

const patch = (extra: Partial<RunPatch>): RunPatch => ({
  runId: "r1",
  workflow: "w",
  status: "running",
  lastSequence: 1,
  spent: 0,
  reserved: 0,
  nodes: [],
  events: [],
  ...extra,
});

describe("a run kept from patches", () => {
  it("replaces only the rows a patch carries and keeps the order until told", () => {
    let run = applyPatch(
      emptyRun("r1"),
      patch({ nodes: [node("a"), node("b")], order: ["a", "b"], lastSequence: 3 }),
    );
    const b = run.nodes.get("b");
    run = applyPatch(run, patch({ nodes: [node("a", { state: "running", text: "Hel" })], lastSequence: 4 }));
    expect(rows(run).map((n) => [n.id, n.state])).toEqual([
      ["a", "running"],
      ["b", "pending"],
    ]);
    expect(run.nodes.get("b")).toBe(b); // untouched rows are the same objects: memoized nodes skip
    run = applyPatch(run, patch({ nodes: [node("a[0]")], order: ["a", "a[0]", "b"], lastSequence: 5 }));
    expect(run.order).toEqual(["a", "a[0]", "b"]);
    expect(run.lastSequence).toBe(5);
  });

  it("appends every event to the trace in order, and takes money and the tree as they come", () => {
    const event = (n: number) =>
      ({ runId: "r1", sequenceNumber: n, timestamp: "2026-12-01T00:00:00Z", type: "node:started", payload: { nodeId: "a", attempt: 1 } }) as RunPatch["events"][number];
    let run = applyPatch(emptyRun("r1"), patch({ events: [event(1), event(2)], spent: 10, reserved: 5, actors: { actors: [] } }));
    run = applyPatch(run, patch({ events: [event(3)], spent: 12, reserved: 0 }));
    expect(run.trace.map((e) => e.sequenceNumber)).toEqual([1, 2, 3]);
    expect([run.spent, run.reserved]).toEqual([12, 0]);
    expect(run.actors).toEqual({ actors: [] }); // kept when a patch does not carry it
  });

  it("shows a replayed view the same way", () => {
    const view: RunView = {
      runId: "r1",
      workflow: "w",
      status: "completed",
      lastSequence: 9,
      nodes: [node("a", { state: "succeeded" })],
      spent: 3,
      reserved: 0,
      actors: { actors: [] },
    };
    const run = fromView(view);
    expect(rows(run)).toEqual(view.nodes);
    expect(run.status).toBe("completed");
  });
});
