// Pages against a mocked IPC (`@tauri-apps/api/mocks`): what each sends, and that a key typed
// on the settings page is sent once to `store_key` and shown nowhere.
import { describe, expect, it } from "vitest";
import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { Keys } from "../settings/Keys";
import { Gates } from "../gates/Gates";
import { RunList } from "../history/History";
import type { KeyStatus, RunSummary, WaitingGate } from "../types/desktop";

type Call = { cmd: string; args: Record<string, unknown> };

function record(answers: Record<string, (args: Record<string, unknown>) => unknown>): Call[] {
  const calls: Call[] = [];
  mockIPC(
    (cmd, args) => {
      const payload = (args ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args: payload });
      const answer = answers[cmd];
      if (!answer) throw { kind: "internal", message: `unexpected ${cmd}` };
      return answer(payload);
    },
    { shouldMockEvents: true },
  );
  return calls;
}

describe("the keys page", () => {
  it("sends a typed key once and never shows it", async () => {
    let stored: KeyStatus[] = [{ provider: "anthropic", source: { from: "none" } }];
    const calls = record({
      key_status: () => stored,
      store_key: () => {
        stored = [{ provider: "anthropic", source: { from: "keychain" } }];
        return stored;
      },
    });
    const { container } = render(<Keys />);
    const input = await screen.findByLabelText("anthropic key");
    fireEvent.change(input, { target: { value: "sk-secret-typed" } });
    fireEvent.submit(input.closest("form")!);
    await screen.findByText("OS keychain");
    expect(calls.filter((c) => c.cmd === "store_key")).toEqual([
      { cmd: "store_key", args: { provider: "anthropic", key: "sk-secret-typed" } },
    ]);
    expect((input as HTMLInputElement).value).toBe("");
    expect(container.innerHTML).not.toContain("sk-secret-typed");
  });
});

const gate: WaitingGate = {
  runId: "01JRUNAAAAAAAAAAAAAAAAAAAA",
  workflowName: "approval",
  requestedAt: "2026-12-01T10:00:00Z",
  nodeId: "approve",
  message: "Publish this 12-word note?",
};

describe("gates", () => {
  it("lists every waiting gate and approves one with a comment", async () => {
    const calls = record({ waiting_gates: () => [gate], decide_gate: () => null });
    render(<Gates />);
    await screen.findByText("Publish this 12-word note?");
    fireEvent.change(screen.getByLabelText("comment"), { target: { value: "ship it" } });
    await act(async () => {
      fireEvent.click(screen.getByText("Approve"));
    });
    await waitFor(() => expect(screen.queryByText("Publish this 12-word note?")).toBeNull());
    expect(calls.find((c) => c.cmd === "decide_gate")?.args).toEqual({
      runId: gate.runId,
      node: "approve",
      item: null,
      approve: true,
      comment: "ship it",
    });
  });
});

describe("the history", () => {
  it("asks for the runs the filters let through", async () => {
    const run: RunSummary = {
      runId: "01JRUNBBBBBBBBBBBBBBBBBBBB",
      workflowName: "hello",
      workflowPath: null,
      status: "completed",
      startedAt: "2026-12-01T10:00:00Z",
      finishedAt: "2026-12-01T10:00:02Z",
      usage: { inputTokens: 1, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 0 },
      cost: 0,
      lastSequence: 20,
      error: null,
    };
    const calls = record({ list_runs: () => [run] });
    render(<RunList refresh={0} onOpen={() => {}} />);
    await screen.findByText("hello");
    fireEvent.change(screen.getByLabelText("status"), { target: { value: "failed" } });
    await waitFor(() =>
      expect(calls.at(-1)?.args).toEqual({
        filter: { status: "failed", workflow: null, since: null, until: null, limit: 500 },
      }),
    );
  });
});

describe("closing with runs in flight", () => {
  it("asks, and stops them gracefully when told", async () => {
    const calls = record({ close_app: () => null });
    const { emit } = await import("@tauri-apps/api/event");
    const { CloseDialog } = await import("../CloseDialog");
    render(<CloseDialog />);
    expect(screen.queryByTestId("close-dialog")).toBeNull();
    // Events sent before `listen()` resolves are lost: wait for the dialog's listener.
    await waitFor(async () => {
      await emit("close-requested", { runs: ["01JRUNA", "01JRUNB"] });
      expect(screen.getByTestId("close-dialog")).toBeTruthy();
    });
    screen.getByText("2 runs are still in flight");
    fireEvent.click(screen.getByText("Stop gracefully and close"));
    await waitFor(() => expect(calls.some((c) => c.cmd === "close_app")).toBe(true));
    expect(calls.find((c) => c.cmd === "close_app")?.args).toEqual({ choice: "stop_gracefully" });
  });

  it("keeps the app open when told", async () => {
    const calls = record({});
    const { emit } = await import("@tauri-apps/api/event");
    const { CloseDialog } = await import("../CloseDialog");
    render(<CloseDialog />);
    await waitFor(async () => {
      await emit("close-requested", { runs: ["01JRUNA"] });
      expect(screen.getByTestId("close-dialog")).toBeTruthy();
    });
    fireEvent.click(screen.getByText("Keep the app open"));
    expect(screen.queryByTestId("close-dialog")).toBeNull();
    expect(calls.filter((c) => c.cmd === "close_app")).toEqual([]);
  });
});

describe("retry from a node", () => {
  it("says what is reused, what runs again and the most it can spend before it starts", async () => {
    const { RetryPlanPanel } = await import("../history/History");
    let started = false;
    render(
      <RetryPlanPanel
        plan={{ runId: "r", from: "greeting", reused: ["welcome", "fact"], rerun: ["greeting"], calling: 1, atMost: 50_000_000 }}
        onStart={() => (started = true)}
        onCancel={() => {}}
      />,
    );
    const panel = screen.getByTestId("retry-plan").textContent ?? "";
    expect(panel).toContain("welcome, fact");
    expect(panel).toContain("Runs again: greeting");
    expect(panel).toContain("At most $0.500000");
    fireEvent.click(screen.getByText("Start the retry"));
    expect(started).toBe(true);
  });
});
