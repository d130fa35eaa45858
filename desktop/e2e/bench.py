#!/usr/bin/env python3
"""The desktop's WebView half of issue 16's performance rows, in the real app under Xvfb:

  - open and lay out a generated 1,000- and 5,000-node workflow: from the click on Open to the
    canvas drawn (its nodes in the DOM and the file's validity shown);
  - a run of about 20,000 events (a 2,000-node chain run by `relavium run`): from the click on
    its row in the history to its page drawn with its trace;
  - the live view at a sustained 2,000+ events/s (40 nodes streaming in parallel, a token
    every 10 ms each, on the scripted provider): every event is counted on screen, and how long
    after it happened it was painted.

Usage: python3 desktop/e2e/bench.py APP_BINARY RELAVIUM_BINARY  (what `cargo xtask test`
builds for the end to end). Prints one line per row; docs/benchmarks.md has the figures.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import CTRL_A, PORT, Driver, free  # noqa: E402

SAMPLES = 5


def tangled(count):
    lines = ["relavium: 1", "name: tangled", "nodes:", "  n0:", "    prompt: start"]
    seed = 7
    for i in range(1, count):
        seed ^= (seed << 13) & 0xFFFFFFFFFFFFFFFF
        seed ^= seed >> 7
        seed ^= (seed << 17) & 0xFFFFFFFFFFFFFFFF
        a = i - 1 - (seed % min(i, 20))
        b = i - 1 - ((seed >> 8) % min(i, 20))
        needs = f"n{a}" if a == b else f"n{a}, n{b}"
        lines += [f"  n{i}:", f"    needs: [{needs}]", f'    prompt: "after {{{{ nodes.n{a}.output }}}}"']
    return "\n".join(lines) + "\n"


def chain(count):
    lines = ["relavium: 1", "name: chain", "nodes:", "  n0:", "    prompt: go"]
    for i in range(1, count):
        lines += [f"  n{i}:", f"    needs: [n{i - 1}]", "    prompt: go"]
    return "\n".join(lines) + "\n"


def streams(width, words):
    prompt = " ".join(f"w{i}" for i in range(words))
    lines = ["relavium: 1", "name: streams", "nodes:"]
    for i in range(width):
        lines += [f"  s{i}:", f"    prompt: {prompt}"]
    return "\n".join(lines) + "\n"


# Clicks the element, then waits (on animation frames) until every condition holds; the ms
# between. A condition is [selector, test, value]: "count" (at least value elements), "text"
# (its text is value), "startsWith" (its text starts with value), "valueEndsWith" (an input's
# value). (The app's CSP forbids evaluating strings, so conditions are data.)
TIMED = """
const [selector, conditions] = [arguments[0], arguments[1]];
const finish = arguments[arguments.length - 1];
function holds([sel, test, value]) {
  if (test === "count") return document.querySelectorAll(sel).length >= value;
  const el = document.querySelector(sel);
  if (!el) return false;
  if (test === "text") return el.textContent === value;
  if (test === "startsWith") return el.textContent.startsWith(value);
  if (test === "valueEndsWith") return el.value.endsWith(value);
  return false;
}
const started = performance.now();
document.querySelector(selector).click();
function check() {
  if (conditions.every(holds)) requestAnimationFrame(() => finish(performance.now() - started));
  else requestAnimationFrame(check);
}
requestAnimationFrame(check);
"""


def timed(d, selector, conditions):
    return d.s("POST", "/execute/async", {"script": TIMED, "args": [selector, conditions]})


def main():
    app, relavium = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work = Path(tempfile.mkdtemp(prefix="relavium-bench-"))
    (work / "script.yaml").write_text("delay_ms: 10\n")
    env = dict(
        os.environ,
        RELAVIUM_HOME=str(work / "home"),
        RELAVIUM_DEFAULT_MODEL="scripted/echo",
        RELAVIUM_SCRIPT=str(work / "script.yaml"),
    )
    for name, text in [
        ("t1000.relavium.yaml", tangled(1000)),
        ("t5000.relavium.yaml", tangled(5000)),
        ("chain.relavium.yaml", chain(2000)),
        ("streams.relavium.yaml", streams(40, 300)),
    ]:
        (work / name).write_text(text)
    # The 20,000-event run, recorded by the CLI (no delay: the echo answers at once).
    quick = dict(env)
    quick.pop("RELAVIUM_SCRIPT")
    subprocess.run([str(relavium), "run", str(work / "chain.relavium.yaml")], env=quick, check=True, stdout=subprocess.DEVNULL)
    if not free(PORT):
        raise SystemExit(f"bench: port {PORT} is taken")
    driver = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", "tauri-driver", "--port", str(PORT)],
        env=env,
        start_new_session=True,
    )
    d = Driver(PORT)
    try:
        while free(PORT):
            time.sleep(0.2)
        d.start(app)
        d.s("POST", "/timeouts", {"implicit": 10000, "script": 120000})
        d.wait("the app", lambda: d.finds('input[aria-label="workflow file"]'))

        for name, count, target in [("t1000", 1000, "≤ 1 s"), ("t5000", 5000, "≤ 3 s")]:
            times = []
            for _ in range(SAMPLES):
                d.type('input[aria-label="workflow file"]', CTRL_A + str(work / f"{name}.relavium.yaml"))
                # Another file first, so each sample opens this one from nothing.
                # The new file's own flow (a flow per file) with its nodes drawn.
                done = [
                    [f'.canvas[data-file$="{name}.relavium.yaml"][data-nodes="{count}"] .react-flow__node', "count", 1],
                    [".validity", "text", "valid"],
                ]
                times.append(timed(d, ".toolbar form button[type=submit]", done))
                d.type('input[aria-label="workflow file"]', CTRL_A + str(work / "streams.relavium.yaml"))
                d.click(".toolbar form button[type=submit]")
                d.wait("the other file", lambda: "valid" in d.text(".validity"))
            print(f"desktop: open and lay out {count:>5} nodes: median {statistics.median(times):7.1f} ms (of {SAMPLES}: {', '.join(f'{t:.0f}' for t in times)}) (target {target})", flush=True)

        # The live view: the desktop's own run of 40 streams, every event's lag measured.
        d.script("window.__relaviumLags = [];")
        started = time.monotonic()
        d.click('[data-testid="run-form"] button[type=submit]')
        d.wait("the streams' end", lambda: "completed" in d.text('[data-testid="live-run"] h3'), 300)
        took = time.monotonic() - started
        time.sleep(0.5)
        lags = d.script("return window.__relaviumLags;")
        run_id = d.script("return document.querySelector('[data-testid=\"live-run\"] h3 [data-run]').dataset.run;")
        page = subprocess.run([str(relavium), "status", "--json", run_id], env=env, capture_output=True, text=True)
        lags.sort()
        count = len(lags)
        p = lambda q: lags[min(count - 1, int(q * count))]
        print(
            f"desktop: live view: {count} events shown in {took:.1f} s ({count / took:,.0f} events/s);"
            f" on screen after median {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {lags[-1]:.0f} ms (target: none dropped, each ≤ 100 ms)",
            flush=True,
        )
        if page.returncode == 0 and '"lastSequence"' in page.stdout:
            import json

            last = json.loads(page.stdout)["run"]["lastSequence"]
            print(f"desktop: live view: the run has {last} events; the screen counted {count}", flush=True)

        # The 20,000-event page.
        times = []
        for _ in range(SAMPLES):
            d.click("nav.pages button:nth-of-type(2)")
            d.wait("the history", lambda: d.finds('[data-testid="history"] tbody tr'))
            rows = d.finds('[data-testid="history"] tbody tr td:nth-child(2)')
            names = [d.s("GET", f"/element/{r}/text") for r in rows]
            index = names.index("chain") + 1
            done = [
                ['[data-testid="trace"] .trace-row .type', "count", 1],
                [".run-page header h2", "startsWith", "chain"],
            ]
            times.append(timed(d, f'[data-testid="history"] tbody tr:nth-child({index}) td', done))
            events = d.text('[data-testid="replay"]')
            d.click("nav.pages button:nth-of-type(1)")
        print(f"desktop: a run's page, 2,000-node chain: median {statistics.median(times):7.1f} ms (of {SAMPLES}: {', '.join(f'{t:.0f}' for t in times)}) {events.strip()} (target ≤ 1 s)", flush=True)
    finally:
        d.quit()
        try:
            os.killpg(driver.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        driver.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
