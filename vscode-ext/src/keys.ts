// Provider keys in VS Code's SecretStorage: set and removed here, handed to the server only
// when a call asks for one (`secrets/get`). A key never goes into a setting, an argument, an
// environment variable or a log.
import * as vscode from "vscode";

/** The providers offered when setting a key (any configured provider name may be typed). */
export const PROVIDERS = ["anthropic", "openai", "deepseek", "gemini"];

const entry = (provider: string): string => `relavium.key.${provider}`;

export class Keys {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  get(provider: string): Promise<string | undefined> {
    return Promise.resolve(this.secrets.get(entry(provider)));
  }

  async set(): Promise<void> {
    const provider = await pickProvider("Set the key of which provider?");
    if (!provider) return;
    const key = await vscode.window.showInputBox({
      prompt: `The ${provider} API key (kept in VS Code's secret storage)`,
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined || key.trim() === "") return;
    await this.secrets.store(entry(provider), key.trim());
    void vscode.window.showInformationMessage(`Relavium: the ${provider} key is stored.`);
  }

  async remove(): Promise<void> {
    const provider = await pickProvider("Remove the key of which provider?");
    if (!provider) return;
    await this.secrets.delete(entry(provider));
    void vscode.window.showInformationMessage(`Relavium: the ${provider} key is removed from VS Code.`);
  }
}

async function pickProvider(title: string): Promise<string | undefined> {
  const picked = await vscode.window.showQuickPick([...PROVIDERS, "another…"], { title });
  if (picked !== "another…") return picked;
  const typed = await vscode.window.showInputBox({
    prompt: "The provider's name, as config.yaml names it",
    validateInput: (v) => (/^[a-z0-9_-]+$/.test(v) ? undefined : "lower-case letters, digits, - and _"),
  });
  return typed?.trim() || undefined;
}
