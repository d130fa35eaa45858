// The extension end to end on the mocked `vscode` module and the real `relavium serve --stdio`
// (RELAVIUM_BIN, else ../target/debug/relavium): every command package.json contributes is
// registered and run — runs started, watched live in the Runs view, in the status bar and the
// output channel; a gate approved from its notification and another rejected in its webview;
// a retry from a node; a cancel; a file run through a workflow; a key from SecretStorage
// reaching a provider (a local server plays Anthropic) and nowhere else; a restart that picks
// a run in flight up again. The language client is replaced (no VS Code to host it): its
// server, `relavium lsp`, is tested through the real binary in cli/tests/lsp.rs.
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mock, Uri, type StatusItem } from "./vscode";

vi.mock("../src/lsp", () => ({
  DOCUMENTS: [],
  languageClient: () => ({ start: async () => undefined, stop: async () => undefined }),
}));

const extension = await import("../src/extension");
const { NODE_SCHEME } = await import("../src/runs");
type Tree = import("../src/runs").RunsTree;
type Item = import("../src/runs").RunItem;
type Lenses = import("../src/codelens").WorkflowLenses;

const BINARY = resolve(process.env.RELAVIUM_BIN ?? join(__dirname, "../../target/debug/relavium"));
const manifest = JSON.parse(readFileSync(join(__dirname, "../package.json"), "utf8")) as {
  contributes: { commands: { command: string }[] };
};

/** Polls `check` until it holds (every 20 ms, at most 20 s). */
async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class Secrets {
  readonly store_ = new Map<string, string>();
  get = async (key: string) => this.store_.get(key);
  store = async (key: string, value: string) => void this.store_.set(key, value);
  delete = async (key: string) => void this.store_.delete(key);
  onDidChange = () => ({ dispose() {} });
}

interface Context {
  subscriptions: { dispose(): unknown }[];
  secrets: Secrets;
  workspaceState: { get<T>(k: string, d: T): T; update(k: string, v: unknown): Promise<void> };
}

function context(): Context {
  const state = new Map<string, unknown>();
  return {
    subscriptions: [],
    secrets: new Secrets(),
    workspaceState: {
      get: <T,>(k: string, d: T) => (state.has(k) ? (state.get(k) as T) : d),
      update: async (k, v) => void state.set(k, v),
    },
  };
}

const run = (id: string, ...args: unknown[]) => {
  const handler = mock.commands.get(id);
  if (!handler) throw new Error(`${id} is not registered`);
  return handler(...args) as Promise<unknown>;
};

let dir: string;
let ctx: Context;
const workflow = (name: string, text: string): Uri => {
  const path = join(dir, `${name}.relavium.yaml`);
  writeFileSync(path, text);
  return Uri.file(path);
};

beforeEach(async () => {
  mock.reset();
  dir = mkdtempSync(join(tmpdir(), "relavium-vscode-"));
  mkdirSync(join(dir, "home"));
  expect(existsSync(BINARY), `${BINARY} exists (cargo build -p relavium-cli, or set RELAVIUM_BIN)`).toBe(true);
  process.env.RELAVIUM_HOME = join(dir, "home");
  process.env.RELAVIUM_DEFAULT_MODEL = "scripted/echo";
  const script = join(dir, "paced.script.yaml");
  writeFileSync(script, "delay_ms: 30\notherwise: echo\n");
  process.env.RELAVIUM_SCRIPT = script;
  mock.configuration.path = BINARY;
  mock.workspaceFolders = [{ uri: Uri.file(dir) }];
  ctx = context();
  await extension.activate(ctx as never);
});

afterEach(async () => {
  await extension.deactivate();
  for (const d of ctx.subscriptions) d.dispose();
});

const tree = (): Tree => mock.treeProviders.get("relavium.runs") as Tree;
const status = (): StatusItem => mock.statusItems[0] as StatusItem;

async function nodesOf(runId: string): Promise<Map<string, string>> {
  const items = await tree().getChildren({ kind: "run", runId });
  return new Map(items.map((i: Item) => [i.kind === "node" ? i.nodeId : "", String(tree().getTreeItem(i).description)]));
}

async function finished(runId: string, status = "completed"): Promise<void> {
  let last = "";
  await until(`${runId} ${status}`, async () => {
    const item = tree().getTreeItem({ kind: "run", runId });
    last = `${String(item.description)} (${item.contextValue})`;
    return String(item.description).startsWith(status) && item.contextValue === "run.done";
  }).catch((e: Error) => {
    throw new Error(`${e.message}: the Runs view shows ${last}; ${JSON.stringify(mock.messages.slice(-3))}`);
  });
}

describe("the extension", () => {
  it("registers exactly the commands package.json contributes", () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    expect([...extension.COMMANDS].sort()).toEqual(contributed);
    expect([...mock.commands.keys()].sort()).toEqual(contributed);
  });

  it("runs a workflow, shows its nodes live, streams its tokens, and retries from a node", async () => {
    const uri = workflow(
      "story",
      'relavium: 1\nname: story\ninputs:\n  topic: string\nnodes:\n  outline:\n    prompt: "outline about {{ inputs.topic }}"\n  draft:\n    needs: [outline]\n    prompt: "draft from {{ nodes.outline.output }}"\n',
    );
    mock.inputAnswers = ["otters"];
    const runId = (await run("relavium.run", uri)) as string;
    expect(runId).toMatch(/^[0-9A-Z]{26}$/);
    expect(mock.inputBoxes[0]?.prompt).toContain("topic (string)");
    // Live: the status bar counts it while it goes, the tree's rows move, then it ends.
    await until("the status bar shows the run", () => status().text.includes("1 running"));
    await finished(runId);
    const nodes = await nodesOf(runId);
    expect(nodes.get("outline")).toMatch(/^succeeded/);
    expect(nodes.get("draft")).toMatch(/^succeeded/);
    await until("the status bar is idle", () => status().text === "$(pass) Relavium");
    const channel = mock.outputChannels.get("Relavium");
    expect(channel?.text).toContain("── outline ──\noutline about otters");
    expect(channel?.text).toContain(`✓ completed (${runId})`);
    // A node's output, one click away.
    const item = tree().getTreeItem({ kind: "node", runId, nodeId: "draft" });
    expect(item.command?.command).toBe("relavium.showNodeOutput");
    await run("relavium.showNodeOutput", runId, "draft");
    expect(mock.openedDocuments[0]).toBe(`${NODE_SCHEME}:/${runId}/draft.md`);
    const provider = mock.contentProviders.get(NODE_SCHEME) as { provideTextDocumentContent(u: Uri): Promise<string> };
    const page = await provider.provideTextDocumentContent(Uri.parse(`${NODE_SCHEME}:/${runId}/draft.md`));
    expect(page).toContain("## Output\n\ndraft from outline about otters");

    // CodeLens: Run and Validate on top; Retry from here above each node once it has a run.
    const lenses = mock.codeLensProviders[0] as Lenses;
    mock.symbols = [
      { name: "outline", detail: "agent", range: { start: { line: 5 } } },
      { name: "draft", detail: "agent", range: { start: { line: 7 } } },
      { name: "topic", detail: "input", range: { start: { line: 3 } } },
    ];
    const shown = await lenses.provideCodeLenses({ uri } as never);
    const titles = shown.map((l) => `${l.command?.command}:${String(l.command?.arguments?.[1] ?? "")}`);
    expect(titles).toEqual(["relavium.run:", "relavium.validate:", "relavium.retryFrom:outline", "relavium.retryFrom:draft"]);

    // Retry from `draft`: the plan is shown first, then the new run reuses `outline`.
    mock.answer = (text, buttons) => (buttons.includes("Retry") ? "Retry" : undefined);
    const retried = (await run("relavium.retryFrom", runId, "draft")) as string;
    const plan = mock.messages.find((m) => m.buttons.includes("Retry"));
    expect(plan?.text).toContain("reuses outline");
    expect(plan?.text).toContain("runs again draft");
    await finished(retried);
    expect((await nodesOf(retried)).get("outline")).toMatch(/^succeeded/);
  });

  it("validates, and runs a workflow on any file (the file becomes its input)", async () => {
    const good = workflow("summarize", "relavium: 1\nname: summarize\ninputs:\n  file: { type: string, description: the file }\nnodes:\n  read:\n    prompt: \"summarize {{ inputs.file }}\"\n");
    expect(await run("relavium.validate", good)).toBe(true);
    const bad = workflow("bad", "relavium: 1\nname: bad\nnodes:\n  a:\n    needs: [ghost]\n    prompt: x\n");
    mock.answer = (_t, buttons) => (buttons.includes("Show Problems") ? "Show Problems" : undefined);
    expect(await run("relavium.validate", bad)).toBe(false);
    expect(mock.messages.at(-1)?.text).toMatch(/1 problem\(s\) — 5:\d+: .*ghost/);
    expect(mock.executed.some((e) => e.id === "workbench.actions.view.problems")).toBe(true);

    const notes = join(dir, "notes.md");
    writeFileSync(notes, "# notes\n");
    mock.workflowFiles = [good];
    mock.pickAnswers = [(items) => items.find((i) => i.label.endsWith("summarize.relavium.yaml"))];
    const runId = (await run("relavium.runOnFile", Uri.file(notes))) as string;
    await finished(runId);
    const provider = mock.contentProviders.get(NODE_SCHEME) as { provideTextDocumentContent(u: Uri): Promise<string> };
    const page = await provider.provideTextDocumentContent(Uri.parse(`${NODE_SCHEME}:/${runId}/read.md`));
    expect(page).toContain(`summarize ${notes}`);
  });

  it("approves a gate from its notification and rejects another in its webview", async () => {
    const uri = workflow(
      "gated",
      "relavium: 1\nname: gated\nnodes:\n  draft:\n    prompt: notes\n  approve:\n    needs: [draft]\n    gate:\n      message: Publish the notes?\n  publish:\n    needs: [approve]\n    prompt: \"published ({{ nodes.approve.decision }})\"\n",
    );
    mock.answer = (text, buttons) => (buttons.includes("Approve") && text.includes("Publish the notes?") ? "Approve" : undefined);
    const first = (await run("relavium.run", uri)) as string;
    await finished(first);
    expect(mock.messages.some((m) => m.text.startsWith("Approved “approve”"))).toBe(true);

    // The second: the notification is left alone; the status bar says a gate waits, the
    // gates list opens its webview, and the page's Reject (with a comment) decides it.
    mock.answer = () => undefined;
    const second = (await run("relavium.run", uri)) as string;
    await until("the status bar counts the gate", () => status().text.includes("1 gate"));
    expect(status().command).toBe("relavium.showGates");
    // The list of gates is pushed (every 100 ms at most): pick the second run's once it is in.
    await until("the second run's gate in the list", async () => {
      mock.pickAnswers = [(items) => items.find((i) => (i as unknown as { gate: { runId: string } }).gate.runId === second)];
      await run("relavium.showGates");
      return mock.panels.length > 0;
    });
    const panel = mock.panels[0];
    expect(panel?.webview.html).toContain("Publish the notes?");
    await panel?.post({ type: "decide", approve: false, comment: "not yet" });
    await finished(second, "failed");
    expect(panel?.isDisposed).toBe(true);
    // Decided: it leaves the list, and opening it does nothing.
    await until("no gate waits", () => !status().text.includes("gate"));
    await run("relavium.openGate", second, "approve");
    expect(mock.panels.length).toBe(1);
  });

  it("cancels a run, and a restart picks up a run in flight", async () => {
    const uri = workflow("long", "relavium: 1\nname: long\nnodes:\n  a:\n    prompt: one two three four five six seven eight nine ten\n  b:\n    needs: [a]\n    prompt: one two three four five six seven eight nine ten\n  c:\n    needs: [b]\n    prompt: one two three four five six seven eight nine ten\n");
    mock.answer = (_t, buttons) => (buttons.includes("Stop now") ? "Stop now" : undefined);
    const cancelled = (await run("relavium.run", uri)) as string;
    await until("a started", async () => (await nodesOf(cancelled)).get("a")?.startsWith("running"));
    await run("relavium.cancelRun", { kind: "run", runId: cancelled });
    await finished(cancelled, "cancelled");

    const flying = (await run("relavium.run", uri)) as string;
    await until("a started", async () => (await nodesOf(flying)).get("a")?.startsWith("running"));
    await run("relavium.restart");
    // The old server let it go (resumable); the new session resumed it and watches it.
    await finished(flying);
    const nodes = await nodesOf(flying);
    expect([...nodes.values()].every((d) => d.startsWith("succeeded"))).toBe(true);
    await run("relavium.showOutput");
    expect(mock.outputChannels.get("Relavium")?.shown).toBeGreaterThan(0);
  });

  it("hands a key from SecretStorage to the call that needs it, and keeps it nowhere else", async () => {
    const SENTINEL = "sk-ant-vscode-sentinel-4b1e";
    const seen: string[] = [];
    const sse = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ].join("");
    const server: Server = createServer((req, res) => {
      seen.push(String(req.headers["x-api-key"]));
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(sse);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, "home/config.yaml"), `providers:\n  anthropic: { base_url: "http://127.0.0.1:${port}" }\n`);
    await run("relavium.restart"); // the configuration is read when the server starts
    mock.pickAnswers = [(items) => items.find((i) => i.label === "anthropic")];
    mock.inputAnswers = [SENTINEL];
    await run("relavium.setKey");
    expect(mock.inputBoxes.at(-1)?.password).toBe(true);
    const uri = workflow("greet", "relavium: 1\nname: greet\nnodes:\n  hello:\n    model: anthropic/claude-sonnet-4-5\n    prompt: Say hello.\n");
    const runId = (await run("relavium.run", uri)) as string;
    await finished(runId);
    expect(seen).toEqual([SENTINEL]);
    const text = JSON.stringify(mock.messages) + (mock.outputChannels.get("Relavium")?.text ?? "") + (mock.outputChannels.get("Relavium Server")?.text ?? "");
    expect(text).not.toContain(SENTINEL);
    mock.pickAnswers = [(items) => items.find((i) => i.label === "anthropic")];
    await run("relavium.removeKey");
    expect(ctx.secrets.store_.size).toBe(0);
    server.close();
  });
});

describe("without relavium", () => {
  it("says where it looked and how to install it", async () => {
    await extension.deactivate();
    mock.reset();
    mock.configuration.path = "";
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    mock.answer = (_t, buttons) => (buttons.includes("Copy Install Command") ? "Copy Install Command" : undefined);
    try {
      await extension.activate(context() as never);
    } finally {
      process.env.PATH = path;
    }
    const error = mock.messages.find((m) => m.level === "error");
    expect(error?.text).toContain("no `relavium` binary on PATH");
    expect(mock.clipboard).toBe("cargo install --path cli --profile dist");
    // The commands exist and say the same instead of failing silently.
    expect(mock.commands.has("relavium.run")).toBe(true);
  });
});
