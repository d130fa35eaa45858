// The language client for `relavium lsp` (diagnostics as you type, completion, hover, go to
// definition, outline) on workflow and agent files.
import * as vscode from "vscode";
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";

export const DOCUMENTS = [
  { scheme: "file", pattern: "**/*.relavium.yaml" },
  { scheme: "file", pattern: "**/*.agent.yaml" },
];

export interface Stoppable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function languageClient(binary: string): Stoppable {
  const server: ServerOptions = { command: binary, args: ["lsp"] };
  const client: LanguageClientOptions = {
    documentSelector: DOCUMENTS,
    // Workflows read agent files and sub-workflows from disk: a change to one rechecks them.
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{relavium,agent}.yaml") },
  };
  return new LanguageClient("relavium", "Relavium language server", server, client);
}
