// Provider keys: where each comes from (keychain, an environment variable, nowhere), storing
// one in the OS keychain, removing it. A key typed here goes to the Rust side once and is
// never sent back: the page only ever receives where keys come from.
import { useEffect, useState } from "react";
import { ipc } from "../ipc";
import type { KeyStatus } from "../types/desktop";

export function source(status: KeyStatus): string {
  switch (status.source.from) {
    case "keychain":
      return "OS keychain";
    case "environment":
      return `environment (${status.source.variable})`;
    case "none":
      return "none";
  }
}

export function Keys() {
  const [keys, setKeys] = useState<KeyStatus[]>([]);
  const [typed, setTyped] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  useEffect(() => {
    ipc.keyStatus().then(setKeys, (e: Error) => setError(e.message));
  }, []);
  const done = (next: KeyStatus[]) => {
    setKeys(next);
    setError(undefined);
  };
  return (
    <div className="keys" data-testid="keys">
      <h2>Provider keys</h2>
      <p>Keys are kept in the OS keychain and read at each call. None is ever shown again.</p>
      {error && <div className="error">{error}</div>}
      <table>
        <tbody>
          {keys.map((k) => (
            <tr key={k.provider}>
              <td>{k.provider}</td>
              <td className="source">{source(k)}</td>
              <td>
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    const key = typed[k.provider] ?? "";
                    setTyped({ ...typed, [k.provider]: "" });
                    ipc.storeKey(k.provider, key).then(done, (x: Error) => setError(x.message));
                  }}
                >
                  <input
                    type="password"
                    autoComplete="off"
                    aria-label={`${k.provider} key`}
                    placeholder="paste a key"
                    value={typed[k.provider] ?? ""}
                    onChange={(e) => setTyped({ ...typed, [k.provider]: e.target.value })}
                  />
                  <button type="submit">Store</button>
                </form>
              </td>
              <td>
                {k.source.from === "keychain" && (
                  <button onClick={() => ipc.removeKey(k.provider).then(done, (x: Error) => setError(x.message))}>Remove</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
