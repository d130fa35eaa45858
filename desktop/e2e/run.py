#!/usr/bin/env python3
"""End to end: the real desktop app in a real WebKit window under Xvfb, driven through
WebKitWebDriver (tauri-driver), on the embedded model.

  open a workflow → edit a node and save (the file's diff is that line only) → run it and
  watch the supervision tree → a gated run approved in the overlay → a gate of a run that
  `relavium run` in a terminal is running, approved here (the CLI's run completes) → the
  history → a run's page, its Gantt, the replay scrubbed back → retry from a node → compare.

Every step leaves a screenshot in SCREENS (default target/e2e-screens/). Usage:
  python3 desktop/e2e/run.py APP_BINARY RELAVIUM_BINARY
The caller (cargo xtask test) builds both; this script starts `xvfb-run tauri-driver` once.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENS = Path(os.environ.get("SCREENS", ROOT / "target" / "e2e-screens"))
PORT = 4444
TIMEOUT = float(os.environ.get("E2E_STEP_TIMEOUT", "120"))


class Driver:
    """A minimal W3C WebDriver client over one keep-alive connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data else {}
        self.conn.request(method, path, body=data, headers=headers)
        reply = self.conn.getresponse()
        payload = json.loads(reply.read() or b"{}")
        value = payload.get("value")
        if reply.status >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status} {value}")
        return value

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def start(self, app):
        value = self.call(
            "POST",
            "/session",
            {"capabilities": {"alwaysMatch": {"tauri:options": {"application": str(app)}}}},
        )
        self.session = value["sessionId"]
        self.s("POST", "/timeouts", {"implicit": 10000})

    def quit(self):
        if self.session:
            try:
                self.s("DELETE", "")
            except Exception:
                pass

    def find(self, css):
        found = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def finds(self, css):
        found = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [next(iter(e.values())) for e in found]

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def text(self, css):
        return self.s("GET", f"/element/{self.find(css)}/text")

    def script(self, source, *args):
        return self.s("POST", "/execute/sync", {"script": source, "args": list(args)})

    def shot(self, name):
        # Two animation frames: what was just rendered is painted before it is captured.
        self.s(
            "POST",
            "/execute/async",
            {"script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", "args": []},
        )
        png = self.s("GET", "/screenshot")
        (SCREENS / f"{name}.png").write_bytes(base64.b64decode(png))
        print(f"e2e: screenshot {name}.png", flush=True)

    def wait(self, what, check, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except RuntimeError as e:
                last = e
            time.sleep(0.25)
        self.shot(f"timeout-{what.replace(' ', '-')}")
        raise AssertionError(f"timed out waiting for {what} (last: {last})")


CTRL_A = "\ue009a\ue009"
TAB = "\ue004"


def body_text(d):
    return d.script("return document.body.innerText;")


def free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def main():
    app, relavium = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    SCREENS.mkdir(parents=True, exist_ok=True)
    for old in SCREENS.glob("*.png"):
        old.unlink()
    work = Path(tempfile.mkdtemp(prefix="relavium-e2e-"))
    (work / "agents").mkdir()
    for name in ["hello.relavium.yaml", "approval.relavium.yaml", "agents/writer.agent.yaml"]:
        shutil.copy(ROOT / "examples" / name, work / name)
    env = dict(os.environ, RELAVIUM_HOME=str(work / "home"))
    # A price for the embedded model (it is free), so a budget can be met and exceeded.
    (work / "home").mkdir()
    (work / "home" / "config.yaml").write_text(
        "prices:\n  - { model: local/smollm2-135m, effective: 2026-01-01, context: 8192, input: \"100\", output: \"100\" }\n"
    )
    (work / "priced.relavium.yaml").write_text(
        # Each call costs about $0.002–0.004 here: the cap holds one or two, never three.
        "relavium: 1\nname: priced\nbudget: { run: 0.006 USD }\ndefaults: { max_tokens: 48 }\n"
        "nodes:\n  first:\n    prompt: Name one colour.\n  second:\n    needs: [first]\n"
        "    prompt: \"Name a fruit of the colour {{ nodes.first.output }} in a long sentence.\"\n"
        "  third:\n    needs: [second]\n    prompt: \"Say why: {{ nodes.second.output }}\"\n"
    )
    (work / "review.relavium.yaml").write_text(
        "relavium: 1\nname: review\ninputs:\n  text: { type: string }\nnodes:\n"
        "  read:\n    prompt: \"Summarise: {{ inputs.text }}\"\n  judge:\n    needs: [read]\n"
        "    transform: \"nodes.read.output | length\"\noutputs:\n  verdict: \"{{ nodes.judge.output }}\"\n"
    )
    (work / "nested.relavium.yaml").write_text(
        "relavium: 1\nname: nested\nnodes:\n  draft:\n    prompt: Write one line.\n"
        "  review:\n    needs: [draft]\n    workflow: review.relavium.yaml\n"
        "    with: { text: \"{{ nodes.draft.output }}\" }\n  done:\n    needs: [review]\n"
        "    transform: \"nodes.review.output\"\n"
    )
    if not free(PORT):
        raise SystemExit(f"e2e: port {PORT} is taken: is another tauri-driver running?")
    # A private D-Bus session with a monitor on the notification interface: the OS
    # notification a waiting gate raises is seen as the app's `Notify` call (Xvfb has no
    # notification service to show it; the call is what the app controls).
    notifications = work / "notifications.log"
    driver_proc = subprocess.Popen(
        [
            "dbus-run-session",
            "--",
            "sh",
            "-c",
            f"dbus-monitor --session \"interface='org.freedesktop.Notifications'\" > '{notifications}' 2>&1 & "
            f"exec xvfb-run -a -s '-screen 0 1400x900x24' tauri-driver --port {PORT}",
        ],
        env=env,
        start_new_session=True,
    )
    cli = None
    d = Driver(PORT)
    try:
        deadline = time.monotonic() + 30
        while free(PORT):
            if time.monotonic() > deadline or driver_proc.poll() is not None:
                raise SystemExit("e2e: tauri-driver did not start")
            time.sleep(0.2)
        d.start(app)
        d.wait("the app", lambda: "Relavium" in body_text(d))

        # 1. Open a workflow: the canvas draws its nodes.
        hello = work / "hello.relavium.yaml"
        before = hello.read_text()
        d.type('input[aria-label="workflow file"]', str(hello))
        d.click(".toolbar form button[type=submit]")
        d.wait("the canvas", lambda: len(d.finds(".react-flow__node")) == 3)
        d.wait("valid", lambda: "valid" in d.text(".validity"))
        d.shot("01-canvas")

        # 2. Edit a node's prompt and save: the file changes on that line only.
        d.click('[data-node="fact"]')
        d.wait("the inspector", lambda: d.finds('[data-testid="inspector"] textarea[name="prompt"]'))
        prompt = 'textarea[name="prompt"]'
        d.click(prompt)
        d.type(prompt, CTRL_A + "Share two facts about {{ inputs.topic }}." + TAB)
        d.wait("an unsaved edit", lambda: "•" in d.text('[data-testid="save"]'))
        d.shot("02-edited")
        d.click('[data-testid="save"]')
        d.wait("saved", lambda: "•" not in d.text('[data-testid="save"]'))
        after = hello.read_text()
        changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
        assert len(before.splitlines()) == len(after.splitlines()), after
        assert changed == [
            (
                "    prompt: Share one surprising fact about {{ inputs.topic }}.",
                "    prompt: Share two facts about {{ inputs.topic }}.",
            )
        ], changed
        print("e2e: the saved file differs by the edited line only", flush=True)

        # 2b. A broken edit: its problem shows on the node at once; undoing it leaves the file
        # as saved.
        d.type('.add-setting input[placeholder="setting"]', "needs")
        d.type('.add-setting input[placeholder="value"]', "nowhere")
        d.click('.add-setting button[type=submit]')
        d.wait("the problem on its node", lambda: d.finds('[data-node="fact"] .wf-problems'))
        assert "problem" in d.text(".validity"), d.text(".validity")
        d.shot("02b-problem-on-its-node")
        d.click('.inspector .chip[title="remove this edge"]')
        d.wait("valid again", lambda: d.text(".validity") == "valid")
        assert hello.read_text() == after

        # 3. Run it on the embedded model; the tree and the canvas follow it live.
        d.click('[data-testid="run-form"] button[type=submit]')
        d.wait("the live run", lambda: d.finds('[data-testid="live-run"]'))
        d.wait("a streaming node", lambda: "ProviderCallActor" in d.text('[data-testid="tree"]'), 60)
        d.shot("03-running-tree")
        d.wait("the run's end", lambda: "completed" in d.text('[data-testid="live-run"] h3'), 240)
        d.click('[data-node="greeting"]')
        d.wait("the node's output", lambda: d.finds('[data-testid="node-detail"] .output'))
        d.shot("04-run-completed")

        # 3b. Money: a priced model and a cap — the meter, and the call that would break it
        # stopped before it leaves (`budget:exceeded`), shown on its node.
        d.click('[data-testid="live-run"] h3 button')
        d.type('input[aria-label="workflow file"]', CTRL_A + str(work / "priced.relavium.yaml"))
        d.click(".toolbar form button[type=submit]")
        d.wait("the priced canvas", lambda: len(d.finds(".react-flow__node")) == 3)
        d.click('[data-testid="run-form"] button[type=submit]')
        d.wait("the run's end at its cap", lambda: "failed" in d.text('[data-testid="live-run"] h3'), 240)
        d.wait("the budget's failure", lambda: "budget" in d.text('[data-testid="live-run"]'))
        meter = d.text('[data-testid="live-run"] [data-testid="budget"]')
        assert "cap $0.006000" in meter, meter
        failed = [n for n in ("first", "second", "third") if "failed" in d.text(f'[data-node="{n}"]')]
        assert failed, "a node failed at the cap"
        d.click(f'[data-node="{failed[0]}"]')
        d.shot("04b-budget-exceeded")

        # 3c. A sub-workflow: a group that opens in place.
        d.click('[data-testid="live-run"] h3 button')
        d.type('input[aria-label="workflow file"]', CTRL_A + str(work / "nested.relavium.yaml"))
        d.click(".toolbar form button[type=submit]")
        d.wait("the nested canvas", lambda: "2 nodes inside" in d.text('[data-node="review"]'))
        d.s("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
            {"type": "pointerMove", "origin": {"element-6066-11e4-a52e-4f735466cecf": d.find('[data-node="review"]')}, "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
            {"type": "pause", "duration": 50},
            {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
        ]}]})
        d.s("DELETE", "/actions")
        d.wait("the group open", lambda: len(d.finds(".react-flow__node-inner")) == 2)
        d.shot("04c-sub-workflow-open")

        # 4. A run with a gate, approved in the overlay.
        approval = work / "approval.relavium.yaml"
        d.type('input[aria-label="workflow file"]', CTRL_A + str(approval))
        d.click(".toolbar form button[type=submit]")
        d.wait("the approval canvas", lambda: len(d.finds(".react-flow__node")) == 4)
        d.click('[data-testid="run-form"] button[type=submit]')
        d.wait("the gate", lambda: d.finds('[data-testid="gate"]'), 240)
        d.shot("05-gate-waiting")
        d.wait(
            "the OS notification of the gate",
            lambda: "member=Notify" in notifications.read_text() and "approval waits for you" in notifications.read_text(),
            30,
        )
        print("e2e: the waiting gate raised an OS notification (its Notify call seen on D-Bus)", flush=True)
        d.type('[data-testid="gate"] textarea', "looks good")
        d.click('[data-testid="gate"] button.primary')
        d.wait("the gated run's end", lambda: "completed" in d.text('[data-testid="live-run"] h3'), 240)
        d.shot("06-gate-approved")

        # 5. A gate of a run that `relavium run` started in a terminal, approved here.
        cli = subprocess.Popen(
            [str(relavium), "run", str(approval), "--input", "topic=terminals"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        d.wait("the CLI's gate", lambda: d.finds('[data-testid="gate"]'), 240)
        d.shot("07-cli-gate")
        d.click('[data-testid="gate"] button.primary')
        out, err = cli.communicate(timeout=240)
        assert cli.returncode == 0, (cli.returncode, out[-2000:], err[-2000:])
        print("e2e: the CLI's run completed after its gate was approved in the desktop", flush=True)

        # 6. The history: every run, the CLI's too.
        d.click("nav.pages button:nth-of-type(2)")
        d.wait("every run", lambda: len(d.finds('[data-testid="history"] tbody tr')) >= 4)
        d.shot("08-history")
        d.click('[data-testid="history"] tbody tr:last-child td')  # the oldest: the hello run
        d.wait("the run's page", lambda: d.finds('[data-testid="trace"] .trace-row .type'))
        d.shot("09-run-page-trace")
        d.click(".tabs nav button:nth-of-type(2)")
        d.wait("the gantt", lambda: d.finds('[data-testid="gantt"] rect.bar'))
        d.shot("10-gantt")

        # 7. Replay: back to an early event, the whole view as it was.
        slider = d.find('input[aria-label="replay"]')
        d.s("POST", f"/element/{slider}/click", {})
        d.s("POST", f"/element/{slider}/value", {"text": "\ue011"})  # Home: the first event
        d.wait("the replay at the start", lambda: "replay at event 1 " in d.text('[data-testid="replay"]'))
        for _ in range(12):
            d.s("POST", f"/element/{slider}/value", {"text": "\ue014"})  # → one event on
        d.wait("a node still pending", lambda: "waiting on upstream" in d.text('.run-page [data-testid="tree"]'))
        d.shot("11-replay-early")

        # 8. Retry from a node: a new run, its page opens.
        d.s("POST", f"/element/{slider}/value", {"text": "\ue010"})  # End
        d.click('.run-page [data-testid="tree"] .tree-branch:last-child button.tree-row.node')
        buttons = d.wait("the retry button", lambda: [b for b in d.finds('.run-page [data-testid="node-detail"] button') if "Retry" in d.s("GET", f"/element/{b}/text")])
        first_run = d.text(".run-page header h2 small")
        d.s("POST", f"/element/{buttons[0]}/click", {})
        d.wait("the retry's plan", lambda: "Runs again" in d.text('[data-testid="retry-plan"]'))
        plan = d.text('[data-testid="retry-plan"]')
        assert "welcome, fact" in plan and "greeting" in plan, plan
        d.shot("12-retry-plan")
        d.click('[data-testid="retry-plan"] button.primary')
        d.wait("the retried run's page", lambda: d.text(".run-page header h2 small") != first_run)
        d.wait("the retried run's end", lambda: "completed" in d.text(".run-page header .status"), 240)
        d.shot("13-retried")

        # 9. Compare the retried run with the first.
        d.click(".tabs nav button:nth-of-type(3)")
        d.type('input[aria-label="other run"]', first_run)
        d.click('[data-testid="compare"] button[type=submit]')
        d.wait("the comparison", lambda: d.finds("table.comparison tbody tr"))
        d.shot("14-compare")

        # 10. Keys: the settings page lists the providers.
        d.click("nav.pages button:nth-of-type(3)")
        d.wait("the keys page", lambda: "anthropic" in d.text('[data-testid="keys"]'))
        d.shot("15-keys")
        print("e2e: all steps passed", flush=True)
    finally:
        d.quit()
        if cli and cli.poll() is None:
            cli.kill()
        try:
            os.killpg(driver_proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        driver_proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
