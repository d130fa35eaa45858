// A run's event trace, virtualized: only the rows on screen exist in the DOM, and events are
// fetched in blocks as they scroll into view — 20,000 events open at once and scroll like 20.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, useState } from "react";
import type { RunEvent } from "../types/desktop";

export const BLOCK = 500;
const ROW_HEIGHT = 24;

/** The block of events holding position `index`. */
export const blockOf = (index: number) => Math.floor(index / BLOCK);

/** A short line for an event: its node or call, and what it says. */
export function describe(event: RunEvent): string {
  const p = ((event as unknown as { payload?: Record<string, unknown> }).payload ?? {});
  const who = [p.nodeId, p.callId, p.actor].find((v) => typeof v === "string");
  const what = p.text ?? p.message ?? p.reason ?? (p.error as { message?: string } | undefined)?.message;
  return [who, typeof what === "string" ? what.slice(0, 120) : undefined].filter(Boolean).join(" · ");
}

export function Trace(props: {
  count: number;
  load: (offset: number, limit: number) => Promise<RunEvent[]>;
  /** The sequence number the replay shows (rows after it are dimmed). */
  upto?: number;
  onPick?: (sequence: number) => void;
}) {
  const { count, load, upto, onPick } = props;
  const parent = useRef<HTMLDivElement>(null);
  const [blocks, setBlocks] = useState<ReadonlyMap<number, RunEvent[]>>(new Map());
  const asked = useRef(new Set<number>());
  useEffect(() => {
    asked.current = new Set();
    setBlocks(new Map());
  }, [load]);
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 20,
  });
  const items = virtualizer.getVirtualItems();
  useEffect(() => {
    const wanted = new Set(items.map((i) => blockOf(i.index)));
    for (const block of wanted) {
      if (asked.current.has(block)) continue;
      asked.current.add(block);
      void load(block * BLOCK, BLOCK).then((events) =>
        setBlocks((current) => new Map(current).set(block, events)),
      );
    }
  }, [items, load]);
  return (
    <div className="trace" ref={parent} data-testid="trace">
      <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
        {items.map((item) => {
          const event = blocks.get(blockOf(item.index))?.[item.index % BLOCK];
          const later = event && upto !== undefined && event.sequenceNumber > upto;
          return (
            <div
              key={item.key}
              className={`trace-row${later ? " later" : ""}`}
              style={{ position: "absolute", top: 0, transform: `translateY(${item.start}px)`, height: ROW_HEIGHT }}
              onClick={() => event && onPick?.(event.sequenceNumber)}
            >
              {event ? (
                <>
                  <span className="seq">{event.sequenceNumber}</span>
                  <span className={`type t-${event.type.replace(":", "-")}`}>{event.type}</span>
                  <span className="what">{describe(event)}</span>
                </>
              ) : (
                <span className="seq">{item.index + 1} …</span>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
