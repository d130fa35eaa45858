// Bundles the extension into dist/extension.js (esbuild; `vscode` stays external, as VS Code
// provides it) and copies the workflow and agent file schemas the YAML extension uses into
// schemas/ — both from the repository's sources, so a fresh clone builds the same .vsix.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
mkdirSync(join(root, "schemas"), { recursive: true });
for (const name of ["workflow.schema.json", "agent.schema.json"]) {
  copyFileSync(join(root, "../docs/schema", name), join(root, "schemas", name));
}
await build({
  entryPoints: [join(root, "src/extension.ts")],
  outfile: join(root, "dist/extension.js"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  external: ["vscode"],
  sourcemap: true,
  minify: true,
  logLevel: "warning",
});
