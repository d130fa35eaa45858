// The app's pages: a workflow (canvas, run), the history (every run of this machine), a run's
// page, and the keys. Gates waiting anywhere on this machine float above every page. Not an
// IDE: there is no code editor, file browser or terminal here, by design (a test guards it).
import { useState } from "react";
import { WorkflowPage } from "./canvas/WorkflowPage";
import { RunList, RunPage } from "./history/History";
import { Keys } from "./settings/Keys";
import { Gates } from "./gates/Gates";
import { CloseDialog } from "./CloseDialog";

export type Page = { name: "workflow" } | { name: "history" } | { name: "run"; runId: string } | { name: "keys" };

/** The workflow a start-up URL names (`?workflow=PATH`), for opening the app on a file. */
export function startupWorkflow(search: string): string | undefined {
  return new URLSearchParams(search).get("workflow") ?? undefined;
}

export function App() {
  const [page, setPage] = useState<Page>({ name: "workflow" });
  const [refresh, setRefresh] = useState(0);
  const [initial] = useState(() => startupWorkflow(window.location.search));
  return (
    <div className="app">
      <nav className="pages">
        <span className="brand">Relavium</span>
        <button className={page.name === "workflow" ? "active" : ""} onClick={() => setPage({ name: "workflow" })}>
          Workflow
        </button>
        <button
          className={page.name === "history" || page.name === "run" ? "active" : ""}
          onClick={() => {
            setRefresh((n) => n + 1);
            setPage({ name: "history" });
          }}
        >
          History
        </button>
        <button className={page.name === "keys" ? "active" : ""} onClick={() => setPage({ name: "keys" })}>
          Keys
        </button>
      </nav>
      <main>
        <div style={{ display: page.name === "workflow" ? "contents" : "none" }}>
          <WorkflowPage initialPath={initial} onRunStarted={() => setRefresh((n) => n + 1)} />
        </div>
        {page.name === "history" && <RunList refresh={refresh} onOpen={(runId) => setPage({ name: "run", runId })} />}
        {page.name === "run" && <RunPage runId={page.runId} onRetried={(runId) => setPage({ name: "run", runId })} />}
        {page.name === "keys" && <Keys />}
      </main>
      <Gates />
      <CloseDialog />
    </div>
  );
}
