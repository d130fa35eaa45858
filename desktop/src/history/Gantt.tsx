// Node timings on a time axis: one bar per attempt (a retry is a bar of its own), a map's items
// on rows grouped under their node, colours by how the attempt ended, and an axis that zooms
// (the wheel, or the buttons) and scrolls. Drawn from the rows' attempt spans.
import { useMemo, useState } from "react";
import type { NodeView } from "../types/desktop";
import { duration } from "../format";

export interface Bar {
  row: string;
  attempt: number;
  start: number;
  end: number;
  outcome: string;
}

/** Every attempt as a bar, in ms from the earliest start; open attempts end at `now`. */
export function bars(nodes: NodeView[], now: number): { bars: Bar[]; rows: string[]; span: number } {
  const spans = nodes.flatMap((n) =>
    n.attempts.map((a) => ({
      row: n.id,
      attempt: a.attempt,
      start: Date.parse(a.startedAt),
      end: a.finishedAt ? Date.parse(a.finishedAt) : now,
      outcome: a.outcome,
    })),
  );
  const origin = Math.min(...spans.map((s) => s.start));
  const out = spans.map((s) => ({ ...s, start: s.start - origin, end: Math.max(s.end - origin, s.start - origin) }));
  const rows = nodes.filter((n) => n.attempts.length > 0).map((n) => n.id);
  return { bars: out, rows, span: Math.max(1, ...out.map((b) => b.end)) };
}

const ROW = 22;
const LABEL = 160;

export function Gantt({ nodes, now }: { nodes: NodeView[]; now: number }) {
  const [zoom, setZoom] = useState(1);
  const { bars: all, rows, span } = useMemo(() => bars(nodes, now), [nodes, now]);
  if (rows.length === 0) return <div className="gantt empty">No attempt has started.</div>;
  const width = 800 * zoom;
  const x = (ms: number) => LABEL + (ms / span) * width;
  const ticks = 8;
  return (
    <div className="gantt" data-testid="gantt">
      <div className="zoom">
        <button onClick={() => setZoom((z) => Math.max(1, z / 2))}>−</button>
        <span>{zoom}×</span>
        <button onClick={() => setZoom((z) => Math.min(256, z * 2))}>+</button>
      </div>
      <div
        className="gantt-scroll"
        onWheel={(e) => {
          if (e.ctrlKey) setZoom((z) => Math.min(256, Math.max(1, e.deltaY < 0 ? z * 2 : z / 2)));
        }}
      >
        <svg width={LABEL + width + 20} height={(rows.length + 1) * ROW + 10}>
          {Array.from({ length: ticks + 1 }, (_, i) => (
            <g key={i}>
              <line x1={x((span * i) / ticks)} x2={x((span * i) / ticks)} y1={0} y2={(rows.length + 1) * ROW} className="tick" />
              <text x={x((span * i) / ticks) + 2} y={12} className="tick-label">
                {duration(Math.round((span * i) / ticks))}
              </text>
            </g>
          ))}
          {rows.map((row, i) => (
            <text key={row} x={row.includes("[") ? 16 : 4} y={(i + 1) * ROW + 15} className={`row-label${row.includes("[") ? " item" : ""}`}>
              {row}
            </text>
          ))}
          {all.map((b) => {
            const i = rows.indexOf(b.row);
            return (
              <rect
                key={`${b.row}#${b.attempt}`}
                x={x(b.start)}
                y={(i + 1) * ROW + 4}
                width={Math.max(2, x(b.end) - x(b.start))}
                height={ROW - 8}
                className={`bar o-${b.outcome}`}
              >
                <title>
                  {b.row} attempt {b.attempt}: {b.outcome}, {duration(b.end - b.start)}
                </title>
              </rect>
            );
          })}
        </svg>
      </div>
    </div>
  );
}
