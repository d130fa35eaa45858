// Finding the `relavium` binary: the `relavium.path` setting, then `PATH`. When it is nowhere,
// the message says where we looked and how to install it.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/** The command that installs `relavium` from a clone of the repository. */
export const INSTALL_COMMAND = "cargo install --path cli --profile dist";

export type Found = { path: string } | { missing: string };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The binary: `setting` when set (it must exist), else the first `relavium` on `pathVariable`. */
export function findBinary(
  setting: string,
  pathVariable: string | undefined,
  isExecutable: (path: string) => boolean = executable,
): Found {
  const configured = setting.trim();
  if (configured !== "") {
    if (isAbsolute(configured) && isExecutable(configured)) return { path: configured };
    return {
      missing:
        `The relavium.path setting names ${configured}, which is not an executable file ` +
        `(give an absolute path, or clear the setting to use PATH).`,
    };
  }
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "relavium");
    if (isExecutable(candidate)) return { path: candidate };
  }
  return {
    missing:
      "Relavium: no `relavium` binary on PATH and the relavium.path setting is empty. " +
      `Install it with \`${INSTALL_COMMAND}\` in a clone of the Relavium repository ` +
      "(it lands in ~/.cargo/bin), or set relavium.path.",
  };
}
