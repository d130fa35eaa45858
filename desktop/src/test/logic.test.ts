import { describe, expect, it } from "vitest";
import { money, duration } from "../format";
import { initialValues, toInputs } from "../run/RunForm";
import { parseScalar, newNodeSettings } from "../canvas/Inspector";
import { summary, flowNodes, flowEdges } from "../canvas/WorkflowCanvas";
import { freshId } from "../canvas/WorkflowPage";
import { bars } from "../history/Gantt";
import { blockOf, describe as describeEvent, BLOCK } from "../history/Trace";
import { nodeStatus } from "../run/RunDetail";
import { source } from "../settings/Keys";
import { startupWorkflow } from "../App";
import type { Canvas, CanvasNode, InputField, NodeView } from "../types/desktop";

describe("money", () => {
  it("prints micro-cents as the engine does, with integers only", () => {
    expect(money(0)).toBe("$0.000000");
    expect(money(123_456_789)).toBe("$1.234567");
    expect(money(99)).toBe("$0.000000");
    expect(money(100)).toBe("$0.000001");
    expect(duration(1500)).toBe("1.5 s");
  });
});

describe("the run form", () => {
  const inputs: InputField[] = [
    { name: "topic", type: "string", default: "actors" },
    { name: "count", type: "integer" },
    { name: "ratio", type: "number", default: 0.5 },
    { name: "loud", type: "boolean" },
    { name: "tags", type: "array", default: ["a"] },
  ];
  it("starts from the defaults, typed", () => {
    expect(initialValues(inputs)).toEqual({ topic: "actors", count: "", ratio: "0.5", loud: false, tags: '["a"]' });
  });
  it("sends typed JSON and names the first field that does not parse", () => {
    const values = { ...initialValues(inputs), count: "3", tags: '["x", "y"]' };
    expect(toInputs(inputs, values)).toEqual({ inputs: { topic: "actors", count: 3, ratio: 0.5, loud: false, tags: ["x", "y"] } });
    expect(toInputs(inputs, { ...values, count: "" })).toEqual({ error: "count is required" });
    expect(toInputs(inputs, { ...values, count: "2.5" })).toEqual({ error: "count must be a whole number" });
    expect(toInputs(inputs, { ...values, tags: "[oops" })).toEqual({ error: "tags must be JSON ([…])" });
  });
});

const canvasNode = (id: string, extra: Partial<CanvasNode> = {}): CanvasNode => ({
  id,
  kind: "agent",
  settings: { prompt: `do ${id}` },
  x: 0,
  y: 0,
  width: 200,
  height: 72,
  pinned: false,
  problems: 0,
  key: { start: 0, end: 1, line: 1, column: 1 },
  ...extra,
});

describe("the canvas", () => {
  it("keeps a typed field's type when it is edited", () => {
    expect(parseScalar("3", 2)).toBe(3);
    expect(parseScalar("x", 2)).toBe("x");
    expect(parseScalar("hello", "hi")).toBe("hello");
    expect(parseScalar("true", false)).toBe(true);
  });
  it("says in a line what each node does", () => {
    expect(summary(canvasNode("a"))).toBe("do a");
    expect(summary(canvasNode("g", { kind: "gate", settings: { gate: { message: "ok?" } } }))).toBe("ok?");
    expect(summary(canvasNode("t", { kind: "transform", settings: { transform: "inputs.x" } }))).toBe("inputs.x");
  });
  it("gives a new node a free id and the least it needs", () => {
    expect(freshId("agent", new Set(["agent_1", "agent_2"]))).toBe("agent_3");
    expect(newNodeSettings("gate")).toEqual([["gate", { message: "Go on?" }]]);
  });
  it("draws an opened sub-workflow's nodes inside it, with their own edges", () => {
    const canvas: Canvas = {
      name: "w",
      valid: true,
      nodes: [
        canvasNode("a"),
        canvasNode("review", {
          kind: "workflow",
          group: { open: true, nodes: [{ id: "read", kind: "agent", x: 24, y: 96 }, { id: "judge", kind: "transform", x: 272, y: 96 }], edges: [{ from: "read", to: "judge" }] },
        }),
      ],
      edges: [{ from: "a", to: "review" }],
      problems: [],
      inputs: [],
      width: 500,
      height: 200,
    };
    const run = new Map<string, NodeView>([["a", { id: "a", state: "running", attempt: 1, text: "", cost: 0, calls: [], toolCalls: [], attempts: [] }]]);
    const nodes = flowNodes(canvas, run, "a");
    expect(nodes.map((n) => [n.id, n.parentId])).toEqual([
      ["a", undefined],
      ["review", undefined],
      ["review.read", "review"],
      ["review.judge", "review"],
    ]);
    expect(nodes[0]?.selected).toBe(true);
    // A new run row moves only its node: the other node objects are the same, so memoized
    // components skip them.
    const again = flowNodes(canvas, new Map(run), "a", new Map(nodes.map((n) => [n.id, n])));
    expect(again[0]).toBe(nodes[0]);
    const moved = new Map(run).set("a", { ...run.get("a")!, text: "more" });
    const after = flowNodes(canvas, moved, "a", new Map(nodes.map((n) => [n.id, n])));
    expect(after[0]).not.toBe(nodes[0]);
    expect(after[1]).toBe(nodes[1]);
    const edges = flowEdges(canvas, run);
    expect(edges.map((e) => e.id)).toEqual(["a->review", "review.read->review.judge"]);
  });
});

describe("the history", () => {
  it("draws each attempt as a bar from the earliest start, items on rows of their own", () => {
    const t = (ms: number) => new Date(Date.UTC(2026, 11, 1, 0, 0, 0, ms)).toISOString();
    const nodes: NodeView[] = [
      { id: "n", state: "succeeded", attempt: 2, text: "", cost: 0, calls: [], toolCalls: [], attempts: [
        { attempt: 1, startedAt: t(0), finishedAt: t(100), outcome: "retrying" },
        { attempt: 2, startedAt: t(300), finishedAt: t(400), outcome: "succeeded" },
      ] },
      { id: "n[0]", state: "running", attempt: 1, text: "", cost: 0, calls: [], toolCalls: [], attempts: [
        { attempt: 1, startedAt: t(350), outcome: "running" },
      ] },
      { id: "later", state: "pending", attempt: 0, text: "", cost: 0, calls: [], toolCalls: [], attempts: [] },
    ];
    const drawn = bars(nodes, Date.parse(t(500)));
    expect(drawn.rows).toEqual(["n", "n[0]"]);
    expect(drawn.bars.map((b) => [b.row, b.attempt, b.start, b.end, b.outcome])).toEqual([
      ["n", 1, 0, 100, "retrying"],
      ["n", 2, 300, 400, "succeeded"],
      ["n[0]", 1, 350, 500, "running"],
    ]);
    expect(drawn.span).toBe(500);
  });
  it("reads the trace in blocks and says what each event is about", () => {
    expect([blockOf(0), blockOf(BLOCK - 1), blockOf(BLOCK)]).toEqual([0, 0, 1]);
    const delta = { runId: "r", sequenceNumber: 7, timestamp: "2026-12-01T00:00:00Z", type: "llm:delta", payload: { nodeId: "a", callId: "a#1.1", text: "Hello" } };
    expect(describeEvent(delta as never)).toBe("a · Hello");
  });
  it("words a node's state for the supervision tree", () => {
    const base: NodeView = { id: "a", state: "pending", attempt: 0, text: "", cost: 0, calls: [], toolCalls: [], attempts: [] };
    expect(nodeStatus(base)).toBe("waiting on upstream");
    expect(nodeStatus({ ...base, state: "waiting" })).toBe("waiting on a gate");
    expect(nodeStatus({ ...base, state: "succeeded", attempt: 3 })).toBe("succeeded after 3 attempts");
    expect(nodeStatus({ ...base, state: "failed", error: "boom" })).toBe("failed: boom");
  });
});

describe("keys and start-up", () => {
  it("says where a key comes from, never what it is", () => {
    expect(source({ provider: "openai", source: { from: "environment", variable: "OPENAI_API_KEY" } })).toBe("environment (OPENAI_API_KEY)");
    expect(source({ provider: "anthropic", source: { from: "keychain" } })).toBe("OS keychain");
  });
  it("opens the workflow a start-up URL names", () => {
    expect(startupWorkflow("?workflow=%2Ftmp%2Fa.relavium.yaml")).toBe("/tmp/a.relavium.yaml");
    expect(startupWorkflow("")).toBeUndefined();
  });
});
