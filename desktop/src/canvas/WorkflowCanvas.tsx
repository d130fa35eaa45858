// The DAG: every node where the Rust layout (or the user) put it, edges from `needs`, each
// node's problems on it, a run's node states when one is shown. Rendering stays cheap at
// thousands of nodes: node components are memoized with stable `nodeTypes`, only visible
// elements render, and below a zoom where text cannot be read a node draws as a plain box.
import {
  Background,
  Controls,
  type Connection,
  type Edge,
  type Node,
  type NodeProps,
  type NodeChange,
  type EdgeChange,
  Handle,
  MiniMap,
  Position,
  ReactFlow,
  ReactFlowProvider,
  applyNodeChanges,
  useReactFlow,
  useStore,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Canvas, CanvasNode, GroupNode, NodeView } from "../types/desktop";

export interface NodeData extends Record<string, unknown> {
  node: CanvasNode;
  run?: NodeView;
}

interface InnerData extends Record<string, unknown> {
  inner: GroupNode;
  run?: NodeView;
}

/** Below this zoom a node's text is too small to read: it draws as a box. */
export const READABLE_ZOOM = 0.45;
const zoomedOut = (s: { transform: [number, number, number] }) => s.transform[2] < READABLE_ZOOM;

/** One line that says what the node does. */
export function summary(node: CanvasNode): string {
  const s = (node.settings ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v));
  switch (node.kind) {
    case "agent":
      return text(s.prompt) || (s.agent ? `agent ${text(s.agent)}` : "");
    case "gate": {
      const gate = s.gate as Record<string, unknown> | undefined;
      return text(gate?.message) || "a person decides";
    }
    case "transform":
      return text(s.transform);
    case "router":
      return "chooses one branch";
    case "tool":
      return text(s.tool);
    case "workflow":
      return text(s.workflow);
  }
}

const WorkflowNode = memo(function WorkflowNode({ data, selected }: NodeProps<Node<NodeData>>) {
  const tiny = useStore(zoomedOut);
  const { node, run } = data;
  const state = run?.state ?? "idle";
  const classes = `wf-node kind-${node.kind} state-${state}${node.problems > 0 ? " has-problems" : ""}${
    selected ? " selected" : ""
  }`;
  if (tiny) return <div className={`${classes} tiny`} data-node={node.id} />;
  const group = node.group;
  return (
    <div className={classes} data-node={node.id} style={{ width: node.width, height: node.height }}>
      <Handle type="target" position={Position.Left} />
      <div className="wf-head">
        <span className="wf-kind">{node.kind}</span>
        <span className="wf-id">{node.id}</span>
        {node.problems > 0 && (
          <span className="wf-problems" title="problems in this node">
            {node.problems}
          </span>
        )}
        {run && <span className="wf-state">{run.state}</span>}
      </div>
      {!group?.open && <div className="wf-summary">{summary(node)}</div>}
      {group && !group.open && <div className="wf-group-count">▸ {group.nodes.length} nodes inside</div>}
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

const InnerNode = memo(function InnerNode({ data }: NodeProps<Node<InnerData>>) {
  const tiny = useStore(zoomedOut);
  const state = data.run?.state ?? "idle";
  if (tiny) return <div className={`wf-node inner tiny state-${state}`} />;
  return (
    <div className={`wf-node inner kind-${data.inner.kind} state-${state}`}>
      <Handle type="target" position={Position.Left} />
      <div className="wf-head">
        <span className="wf-kind">{data.inner.kind}</span>
        <span className="wf-id">{data.inner.id}</span>
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

const nodeTypes = { workflow: WorkflowNode, inner: InnerNode };

export interface CanvasProps {
  canvas: Canvas;
  /** A run's rows by node id (live, replayed or recorded). */
  run?: ReadonlyMap<string, NodeView>;
  selected?: string;
  onSelect: (id: string | undefined) => void;
  onMove: (id: string, x: number, y: number) => void;
  onConnect: (from: string, to: string) => void;
  onDisconnect: (from: string, to: string) => void;
  onToggleGroup: (id: string, open: boolean) => void;
}

/**
 * The flow's nodes for `canvas`: top-level nodes, and the nodes of opened groups inside them.
 * A node whose canvas entry, run row and selection are those of `previous` is `previous`'s
 * object itself, so its memoized component does not render again: a live run moves only the
 * nodes whose rows changed.
 */
export function flowNodes(
  canvas: Canvas,
  run: ReadonlyMap<string, NodeView> | undefined,
  selected?: string,
  previous?: ReadonlyMap<string, Node>,
) {
  const nodes: Node[] = [];
  for (const node of canvas.nodes) {
    const row = run?.get(node.id);
    const isSelected = node.id === selected;
    const before = previous?.get(node.id);
    const data = before?.data as NodeData | undefined;
    if (before && data?.node === node && data.run === row && (before.selected ?? false) === isSelected) {
      nodes.push(before);
    } else {
      nodes.push({
        id: node.id,
        type: "workflow",
        position: { x: node.x, y: node.y },
        // Known sizes: drawn at once, without waiting for the DOM to be measured.
        width: node.width,
        height: node.height,
        data: { node, run: row } satisfies NodeData,
        selected: isSelected,
      });
    }
    if (node.group?.open) {
      for (const inner of node.group.nodes) {
        nodes.push({
          id: `${node.id}.${inner.id}`,
          type: "inner",
          parentId: node.id,
          extent: "parent",
          draggable: false,
          connectable: false,
          position: { x: inner.x, y: inner.y },
          data: { inner, run: run?.get(`${node.id}.${inner.id}`) } satisfies InnerData,
        });
      }
    }
  }
  return nodes;
}

export function flowEdges(canvas: Canvas, run?: ReadonlyMap<string, NodeView>): Edge[] {
  const edges: Edge[] = canvas.edges.map((e) => ({
    id: `${e.from}->${e.to}`,
    source: e.from,
    target: e.to,
    animated: run?.get(e.to)?.state === "running",
  }));
  for (const node of canvas.nodes) {
    if (!node.group?.open) continue;
    for (const e of node.group.edges) {
      edges.push({
        id: `${node.id}.${e.from}->${node.id}.${e.to}`,
        source: `${node.id}.${e.from}`,
        target: `${node.id}.${e.to}`,
        selectable: false,
      });
    }
  }
  return edges;
}

function Flow(props: CanvasProps) {
  const { canvas, run, selected, onSelect, onMove, onConnect, onDisconnect, onToggleGroup } = props;
  const previous = useRef<ReadonlyMap<string, Node>>(new Map());
  const computed = useMemo(() => {
    const next = flowNodes(canvas, run, selected, previous.current);
    previous.current = new Map(next.map((n) => [n.id, n]));
    return next;
  }, [canvas, run, selected]);
  const [nodes, setNodes] = useState<Node[]>(computed);
  // Dragging moves the flow's own copy; a new canvas (or run row) replaces it, keeping what
  // the flow measured.
  useEffect(
    () =>
      setNodes((current) => {
        const measured = new Map(current.map((n) => [n.id, n.measured]));
        return computed.map((n) => (measured.get(n.id) && !n.measured ? { ...n, measured: measured.get(n.id) } : n));
      }),
    [computed],
  );
  const edges = useMemo(() => flowEdges(canvas, run), [canvas, run]);
  // Opening or closing a sub-workflow changes the drawing's extent: fit it again.
  const { fitView } = useReactFlow();
  const openGroups = canvas.nodes
    .filter((n) => n.group?.open)
    .map((n) => n.id)
    .join(" ");
  const firstFit = useRef(true);
  useEffect(() => {
    if (firstFit.current) {
      firstFit.current = false; // the first fit is the flow's own (`fitView`)
      return;
    }
    const frame = requestAnimationFrame(() => void fitView({ maxZoom: 1, duration: 150 }));
    return () => cancelAnimationFrame(frame);
  }, [openGroups, fitView]);

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    setNodes((current) => applyNodeChanges(changes, current));
  }, []);
  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      for (const change of changes) {
        if (change.type === "remove") {
          const [from, to] = change.id.split("->");
          if (from && to) onDisconnect(from, to);
        }
      }
    },
    [onDisconnect],
  );
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onEdgesChange={onEdgesChange}
      onNodeClick={(_, node) => onSelect(node.parentId ? node.parentId : node.id)}
      onNodeDoubleClick={(_, node) => {
        const data = node.data as Partial<NodeData>;
        if (data.node?.group) onToggleGroup(node.id, !data.node.group.open);
      }}
      onPaneClick={() => onSelect(undefined)}
      onNodeDragStop={(_, node) => {
        if (!node.parentId) onMove(node.id, node.position.x, node.position.y);
      }}
      onConnect={(c: Connection) => {
        if (c.source && c.target && c.source !== c.target) onConnect(c.source, c.target);
      }}
      onlyRenderVisibleElements
      minZoom={0.05}
      fitView
      fitViewOptions={{ maxZoom: 1 }}
      proOptions={{ hideAttribution: true }}
      deleteKeyCode={["Delete", "Backspace"]}
    >
      <Background />
      <Controls showInteractive={false} />
      <MiniMap pannable zoomable nodeStrokeWidth={3} />
    </ReactFlow>
  );
}

export function WorkflowCanvas(props: CanvasProps & { file: string }) {
  return (
    <div className="canvas" data-testid="canvas" data-file={props.file} data-nodes={props.canvas.nodes.length}>
      {/* A flow per file: opening another fits it to the view again. */}
      <ReactFlowProvider key={props.file}>
        <Flow {...props} />
      </ReactFlowProvider>
    </div>
  );
}
