// A stand-in for the `vscode` module (no VS Code binary can run here): the parts of the API the
// extension uses, each recording what it was asked and answering what a test scripted.
// vitest.config.ts aliases `vscode` to this file.
type Listener<T> = (value: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Disposable {
  constructor(private readonly onDispose: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.onDispose();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  static file(path: string): Uri {
    return new Uri("file", path);
  }
  static parse(text: string): Uri {
    const colon = text.indexOf(":");
    return new Uri(text.slice(0, colon), text.slice(colon + 1).replace(/^\/\//, ""));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}:${this.scheme === "file" ? "//" : ""}${this.path}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: number | Position, b: number | Position, c?: number, d?: number) {
    this.start = typeof a === "number" ? new Position(a, b as number) : a;
    this.end = typeof a === "number" ? new Position(c ?? 0, d ?? 0) : (b as Position);
  }
}

export class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: { title: string; command: string; arguments?: unknown[] },
  ) {}
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  iconPath?: ThemeIcon;
  contextValue?: string;
  tooltip?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ViewColumn {
  Active = -1,
  One = 1,
}

/** What the tests script and read. */
export const mock = {
  /** Which button a `show*Message` call gets clicked (none by default). */
  answer: (_text: string, _buttons: string[]): string | undefined => undefined,
  /** Answers of the next `showInputBox` calls, in order. */
  inputAnswers: [] as (string | undefined)[],
  /** Picks the answer of the next `showQuickPick` calls from the items, in order. */
  pickAnswers: [] as ((items: { label: string }[]) => unknown)[],
  messages: [] as { level: "info" | "warning" | "error"; text: string; buttons: string[] }[],
  inputBoxes: [] as { prompt?: string; password?: boolean; validate?: (v: string) => unknown }[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as { id: string; args: unknown[] }[],
  treeProviders: new Map<string, unknown>(),
  contentProviders: new Map<string, unknown>(),
  codeLensProviders: [] as unknown[],
  statusItems: [] as StatusItem[],
  outputChannels: new Map<string, OutputChannel>(),
  panels: [] as Panel[],
  openedDocuments: [] as string[],
  clipboard: "",
  configuration: { path: "", runsShown: 30 } as Record<string, unknown>,
  workflowFiles: [] as Uri[],
  workspaceFolders: [] as { uri: Uri }[],
  textDocuments: [] as { uri: Uri; isDirty: boolean; save(): Promise<boolean> }[],
  activeDocument: undefined as { uri: Uri; isDirty: boolean; save(): Promise<boolean> } | undefined,
  symbols: [] as unknown[],
  reset(): void {
    this.answer = () => undefined;
    this.inputAnswers = [];
    this.pickAnswers = [];
    this.messages = [];
    this.inputBoxes = [];
    this.commands.clear();
    this.executed = [];
    this.treeProviders.clear();
    this.contentProviders.clear();
    this.codeLensProviders = [];
    this.statusItems = [];
    this.outputChannels.clear();
    this.panels = [];
    this.openedDocuments = [];
    this.clipboard = "";
    this.configuration = { path: "", runsShown: 30 };
    this.workflowFiles = [];
    this.workspaceFolders = [];
    this.textDocuments = [];
    this.activeDocument = undefined;
    this.symbols = [];
  },
};

export class OutputChannel {
  text = "";
  shown = 0;
  constructor(readonly name: string) {}
  append(text: string): void {
    this.text += text;
  }
  appendLine(text: string): void {
    this.text += `${text}\n`;
  }
  show(): void {
    this.shown += 1;
  }
  dispose(): void {}
}

export class StatusItem {
  text = "";
  tooltip?: string;
  command?: string;
  backgroundColor?: ThemeColor;
  visible = false;
  show(): void {
    this.visible = true;
  }
  dispose(): void {
    this.visible = false;
  }
}

export class Panel {
  readonly received = new EventEmitter<unknown>();
  private readonly disposed = new EventEmitter<void>();
  isDisposed = false;
  revealed = 0;
  readonly webview = {
    html: "",
    onDidReceiveMessage: (listener: (m: unknown) => unknown) => this.received.event(listener),
  };
  constructor(readonly title: string) {}
  reveal(): void {
    this.revealed += 1;
  }
  onDidDispose(listener: () => void): Disposable {
    return this.disposed.event(listener);
  }
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.disposed.fire();
  }
  /** What the page's script would post. */
  async post(message: unknown): Promise<void> {
    this.received.fire(message);
    await new Promise((r) => setTimeout(r, 0));
  }
}

const message =
  (level: "info" | "warning" | "error") =>
  async (text: string, ...rest: unknown[]): Promise<string | undefined> => {
    const buttons = rest.filter((r): r is string => typeof r === "string");
    mock.messages.push({ level, text, buttons });
    return mock.answer(text, buttons);
  };

export const window = {
  showInformationMessage: message("info"),
  showWarningMessage: message("warning"),
  showErrorMessage: message("error"),
  async showInputBox(options: { prompt?: string; password?: boolean; validateInput?: (v: string) => unknown }) {
    mock.inputBoxes.push({ prompt: options.prompt, password: options.password, validate: options.validateInput });
    return mock.inputAnswers.shift();
  },
  async showQuickPick(items: (string | { label: string })[]) {
    const pick = mock.pickAnswers.shift();
    if (!pick) return undefined;
    const labelled = items.map((i) => (typeof i === "string" ? { label: i } : i));
    const picked = pick(labelled);
    const index = labelled.indexOf(picked as { label: string });
    return typeof items[0] === "string" && index >= 0 ? items[index] : picked;
  },
  createOutputChannel(name: string): OutputChannel {
    const channel = new OutputChannel(name);
    mock.outputChannels.set(name, channel);
    return channel;
  },
  createStatusBarItem(): StatusItem {
    const item = new StatusItem();
    mock.statusItems.push(item);
    return item;
  },
  createWebviewPanel(_type: string, title: string): Panel {
    const panel = new Panel(title);
    mock.panels.push(panel);
    return panel;
  },
  registerTreeDataProvider(id: string, provider: unknown): Disposable {
    mock.treeProviders.set(id, provider);
    return new Disposable();
  },
  async showTextDocument(document: { uri: Uri }) {
    mock.openedDocuments.push(document.uri.toString());
    return {};
  },
  get activeTextEditor() {
    return mock.activeDocument ? { document: mock.activeDocument } : undefined;
  },
};

export const commands = {
  registerCommand(id: string, handler: (...args: unknown[]) => unknown): Disposable {
    mock.commands.set(id, handler);
    return new Disposable(() => mock.commands.delete(id));
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    mock.executed.push({ id, args });
    if (id === "vscode.executeDocumentSymbolProvider") return mock.symbols;
    const handler = mock.commands.get(id);
    return handler ? handler(...args) : undefined;
  },
};

export const workspace = {
  get workspaceFolders(): { uri: Uri }[] | undefined {
    return mock.workspaceFolders.length > 0 ? mock.workspaceFolders : undefined;
  },
  getConfiguration() {
    return {
      get<T>(key: string, fallback: T): T {
        return (mock.configuration[key] as T | undefined) ?? fallback;
      },
    };
  },
  async findFiles(): Promise<Uri[]> {
    return mock.workflowFiles;
  },
  asRelativePath(target: Uri | string): string {
    const path = typeof target === "string" ? target : target.fsPath;
    return path.split("/").slice(-2).join("/");
  },
  registerTextDocumentContentProvider(scheme: string, provider: unknown): Disposable {
    mock.contentProviders.set(scheme, provider);
    return new Disposable();
  },
  async openTextDocument(uri: Uri) {
    return { uri };
  },
  get textDocuments() {
    return mock.textDocuments;
  },
};

export const languages = {
  registerCodeLensProvider(_selector: unknown, provider: unknown): Disposable {
    mock.codeLensProviders.push(provider);
    return new Disposable();
  },
};

export const env = {
  clipboard: {
    async writeText(text: string): Promise<void> {
      mock.clipboard = text;
    },
  },
};
