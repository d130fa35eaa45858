// The client of `relavium serve --stdio`: one child process per window, JSON-RPC over its
// stdio (vscode-jsonrpc speaks the LSP framing the server uses). Every method and
// notification is typed from the generated protocol types; provider keys are handed over only
// when the server asks (`secrets/get`), from the extension's SecretStorage.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import {
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from "vscode-jsonrpc/node";
import {
  PROTOCOL_VERSION,
  type ErrorReport,
  type InitializeResult,
  type Methods,
  type Notifications,
  type SecretsGetParams,
  type SecretsGetResult,
} from "./types/serve";

/** Where keys come from when the server asks for one. */
export type KeySource = (provider: string) => Promise<string | undefined>;

/** A request that failed, with the server's report when it sent one. */
export class ServeError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly report?: ErrorReport,
  ) {
    super(message);
  }

  /** The report's stable kind (`unknown_run`, `invalid_workflow`…), if any. */
  get kind(): string | undefined {
    return this.report?.kind;
  }
}

/** What the client needs of a connection: the real one, or a test's. */
export interface Connection {
  sendRequest(method: string, params: unknown): Promise<unknown>;
  onNotification(method: string, handler: (params: unknown) => void): void;
  onRequest(method: string, handler: (params: unknown) => unknown): void;
  onClose(handler: () => void): void;
  listen(): void;
  /** Lets the server go; resolves once it has exited. */
  end(): Promise<void>;
}

/** How long a server gets to let its runs go (the calls under way finish) and exit. */
export const EXIT_WAIT_MS = 60_000;

export class ServeClient {
  private closed = false;
  private ending: Promise<void> | undefined;
  private readonly closeHandlers: Array<() => void> = [];

  private constructor(
    private readonly connection: Connection,
    readonly info: InitializeResult,
  ) {
    connection.onClose(() => {
      if (this.closed) return;
      this.closed = true;
      // Only a server that stopped on its own is news: one we let go was asked to.
      if (!this.ending) for (const handler of this.closeHandlers) handler();
    });
  }

  /**
   * Starts `binary serve --stdio` and initializes it; the server reads workflow files only
   * inside `roots` (the workspace folders; none: its working directory).
   */
  static async spawn(binary: string, keys: KeySource, log: (line: string) => void, roots: string[] = []): Promise<ServeClient> {
    const child: ChildProcessWithoutNullStreams = spawn(binary, ["serve", "--stdio"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: process.env,
    });
    child.stderr.on("data", (chunk: Buffer) => log(chunk.toString("utf8").trimEnd()));
    const connection = createMessageConnection(
      new StreamMessageReader(child.stdout),
      new StreamMessageWriter(child.stdin),
    );
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const wrapped: Connection = {
      sendRequest: (method, params) => connection.sendRequest(method, params),
      onNotification: (method, handler) => {
        connection.onNotification(method, handler);
      },
      onRequest: (method, handler) => {
        connection.onRequest(method, handler);
      },
      onClose: (handler) => {
        connection.onClose(handler);
        child.on("exit", handler);
      },
      listen: () => connection.listen(),
      end: async () => {
        // Closing stdin is how the server learns its client went away: it lets its runs go
        // gracefully (resumable) and exits.
        child.stdin.end();
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, EXIT_WAIT_MS).unref());
        await Promise.race([exited, timeout]);
        connection.dispose();
      },
    };
    return ServeClient.over(wrapped, keys, roots);
  }

  /** A client over `connection` (the tests' in-memory one). */
  static async over(connection: Connection, keys: KeySource, roots: string[] = []): Promise<ServeClient> {
    connection.onRequest("secrets/get", async (params): Promise<SecretsGetResult> => {
      const { provider } = params as SecretsGetParams;
      return { key: (await keys(provider)) ?? null };
    });
    connection.listen();
    const info = (await connection.sendRequest("initialize", {
      protocolVersions: [PROTOCOL_VERSION],
      client: { name: "relavium-vscode", version: "0.1.0" },
      capabilities: { secrets: true },
      roots,
    })) as InitializeResult;
    return new ServeClient(connection, info);
  }

  /** Calls `method`; a failure is a [`ServeError`] carrying the server's report. */
  async request<M extends keyof Methods>(
    method: M,
    params: Methods[M]["params"],
  ): Promise<Methods[M]["result"]> {
    try {
      return (await this.connection.sendRequest(method, params)) as Methods[M]["result"];
    } catch (error) {
      if (error instanceof ResponseError) {
        const report = isReport(error.data) ? error.data : undefined;
        throw new ServeError(error.message, error.code, report);
      }
      throw error;
    }
  }

  /** Handles notification `method`. */
  on<N extends keyof Notifications>(method: N, handler: (params: Notifications[N]["params"]) => void): void {
    this.connection.onNotification(method, (params) => handler(params as Notifications[N]["params"]));
  }

  /** Called when the server exits or the pipe breaks on its own (not after [`dispose`]). */
  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Lets the server go: it suspends its runs (they stay resumable); resolves once it exited,
   * so a new server can take them over. */
  dispose(): Promise<void> {
    this.ending ??= this.closed ? Promise.resolve() : this.connection.end();
    return this.ending;
  }
}

function isReport(data: unknown): data is ErrorReport {
  return typeof data === "object" && data !== null && "kind" in data && "message" in data;
}
