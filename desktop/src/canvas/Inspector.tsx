// The selected node's settings as fields: each change is one `Edit` sent to the Rust side,
// which changes only the lines it concerns. Scalars are typed into inputs, a nested mapping's
// scalars one level down (a gate's message and timeout, a retry's attempts); anything deeper
// is shown as written. Not a code editor: no file is ever shown whole.
import { useEffect, useState } from "react";
import type { CanvasNode, Edit, OutlineKind, Problem } from "../types/desktop";

type Scalar = string | number | boolean | null;
const isScalar = (v: unknown): v is Scalar =>
  v === null || ["string", "number", "boolean"].includes(typeof v);

/** What a typed field becomes in the file: numbers and booleans stay typed. */
export function parseScalar(text: string, was: Scalar): Scalar {
  if (typeof was === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (typeof was === "boolean") return text === "true";
  return text;
}

function Field(props: {
  label: string;
  value: Scalar;
  multiline?: boolean;
  onCommit: (value: Scalar) => void;
}) {
  const { label, value, multiline, onCommit } = props;
  const [text, setText] = useState(value === null ? "" : String(value));
  useEffect(() => setText(value === null ? "" : String(value)), [value]);
  const commit = () => {
    const next = parseScalar(text, value);
    if (next !== value) onCommit(next);
  };
  if (typeof value === "boolean") {
    return (
      <label className="field">
        <span>{label}</span>
        <input type="checkbox" checked={value} onChange={(e) => onCommit(e.target.checked)} />
      </label>
    );
  }
  return (
    <label className="field">
      <span>{label}</span>
      {multiline ? (
        <textarea
          name={label}
          value={text}
          rows={Math.min(8, Math.max(2, text.split("\n").length))}
          onChange={(e) => setText(e.target.value)}
          onBlur={commit}
        />
      ) : (
        <input
          name={label}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === "Enter") commit();
          }}
        />
      )}
    </label>
  );
}

const MULTILINE = new Set(["prompt", "system", "transform", "message", "description"]);

/** A new node of each kind, with the least it needs to be valid. */
export function newNodeSettings(kind: OutlineKind): [string, unknown][] {
  switch (kind) {
    case "agent":
      return [["prompt", "Say what this step should do."]];
    case "gate":
      return [["gate", { message: "Go on?" }]];
    case "transform":
      return [["transform", "inputs"]];
    case "router":
      return [["router", { routes: [] }]];
    case "tool":
      return [["tool", "file.read"]];
    case "workflow":
      return [["workflow", "./sub.relavium.yaml"]];
  }
}

export interface InspectorProps {
  node: CanvasNode;
  problems: Problem[];
  onEdit: (edits: Edit[]) => void;
}

export function Inspector({ node, problems, onEdit }: InspectorProps) {
  const settings = (node.settings ?? {}) as Record<string, unknown>;
  const [rename, setRename] = useState(node.id);
  const [newKey, setNewKey] = useState("");
  const [newValue, setNewValue] = useState("");
  useEffect(() => setRename(node.id), [node.id]);
  const set = (path: string[], value: unknown) =>
    onEdit([{ op: "setField", node: node.id, path, value }]);
  return (
    <aside className="inspector" data-testid="inspector">
      <header>
        <span className={`wf-kind kind-${node.kind}`}>{node.kind}</span>
        <input
          aria-label="node id"
          className="rename"
          value={rename}
          onChange={(e) => setRename(e.target.value)}
          onBlur={() => {
            if (rename && rename !== node.id) onEdit([{ op: "renameNode", from: node.id, to: rename }]);
          }}
        />
      </header>
      {problems.length > 0 && (
        <ul className="problems">
          {problems.map((p, i) => (
            <li key={i}>
              <b>{p.diagnostic.code}</b> line {p.diagnostic.start.line}: {p.diagnostic.message}
              {p.diagnostic.hint && <div className="hint">{p.diagnostic.hint}</div>}
            </li>
          ))}
        </ul>
      )}
      {Object.entries(settings).map(([key, value]) => {
        if (key === "needs") {
          const needs = Array.isArray(value) ? value.map(String) : [String(value)];
          return (
            <div key={key} className="field">
              <span>needs</span>
              <div className="chips">
                {needs.map((need) => (
                  <button
                    key={need}
                    className="chip"
                    title="remove this edge"
                    onClick={() => onEdit([{ op: "removeNeed", node: node.id, need }])}
                  >
                    {need} ×
                  </button>
                ))}
              </div>
            </div>
          );
        }
        if (isScalar(value)) {
          return (
            <div key={key} className="setting">
              <Field label={key} value={value} multiline={MULTILINE.has(key)} onCommit={(v) => set([key], v)} />
              <button className="remove" title={`remove ${key}`} onClick={() => onEdit([{ op: "removeField", node: node.id, path: [key] }])}>
                ×
              </button>
            </div>
          );
        }
        if (typeof value === "object" && value !== null && !Array.isArray(value)) {
          return (
            <fieldset key={key}>
              <legend>{key}</legend>
              {Object.entries(value as Record<string, unknown>).map(([inner, v]) =>
                isScalar(v) ? (
                  <Field key={inner} label={inner} value={v} multiline={MULTILINE.has(inner)} onCommit={(x) => set([key, inner], x)} />
                ) : (
                  <div key={inner} className="field">
                    <span>{inner}</span>
                    <code>{JSON.stringify(v)}</code>
                  </div>
                ),
              )}
            </fieldset>
          );
        }
        return (
          <div key={key} className="field">
            <span>{key}</span>
            <code>{JSON.stringify(value)}</code>
          </div>
        );
      })}
      <form
        className="add-setting"
        onSubmit={(e) => {
          e.preventDefault();
          if (newKey) {
            set([newKey], newValue);
            setNewKey("");
            setNewValue("");
          }
        }}
      >
        <input placeholder="setting" value={newKey} onChange={(e) => setNewKey(e.target.value)} />
        <input placeholder="value" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
        <button type="submit">Add</button>
      </form>
      <button className="danger" onClick={() => onEdit([{ op: "removeNode", id: node.id }])}>
        Remove node
      </button>
    </aside>
  );
}
