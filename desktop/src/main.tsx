import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";

/** A failure no page caught: said on screen rather than leaving an empty window. */
function showFailure(root: HTMLElement, error: unknown) {
  const message = error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error);
  const pre = document.createElement("pre");
  pre.className = "fatal";
  pre.textContent = `Relavium's window failed: ${message}`;
  root.replaceChildren(pre);
}

const root = document.getElementById("root");
if (root) {
  // Only thrown errors: the browser also reports benign conditions as error events without
  // one ("ResizeObserver loop completed with undelivered notifications").
  window.addEventListener("error", (e) => {
    if (e.error instanceof Error) showFailure(root, e.error);
  });
  createRoot(root, { onUncaughtError: (error) => showFailure(root, error) }).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
