// Not an IDE: the app has no code editor, file browser or terminal — no such dependency, no
// command that lists, reads or writes arbitrary files or runs programs, and the WebView gets
// no file-system, shell or HTTP plugin. This test fails if one arrives.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(__dirname, "../..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name: string) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return name === "types" || name === "test" ? [] : sources(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

describe("scope", () => {
  it("has no editor, terminal or file-browser dependency", () => {
    const pkg = JSON.parse(read("package.json")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const all = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    const forbidden = /monaco|codemirror|@codemirror|ace-builds|xterm|@xterm|node-pty|plugin-fs|plugin-shell|plugin-http|plugin-dialog/;
    expect(all.filter((d) => forbidden.test(d))).toEqual([]);
  });

  it("lists no command that reads, writes or lists arbitrary files or runs programs", () => {
    const names = [...read("src-tauri/src/commands/names.rs").matchAll(/"([a-z_]+)"/g)].map((m) => m[1] ?? "");
    expect(names.length).toBeGreaterThan(10);
    const forbidden = /read_file|write_file|list_dir|exec|shell|spawn|terminal|browse/;
    expect(names.filter((n) => forbidden.test(n))).toEqual([]);
    const cargo = read("src-tauri/Cargo.toml");
    expect(cargo).not.toMatch(/tauri-plugin-(fs|shell|http|dialog)/);
  });

  it("never shows a whole file: no source renders file text", () => {
    for (const file of sources("src")) {
      const text = read(file);
      expect(text, file).not.toMatch(/document\.text|fileText|contenteditable/i);
    }
  });
});
