#!/usr/bin/env python3
"""The README's first command, timed to its first streamed token.

    python3 bench/scripts/first_token.py [WORKFLOW] [CLONE]

Runs `cargo xtask run WORKFLOW --json` in CLONE (default: the current directory) and prints
the seconds from the command's start to its first `llm:delta` line on stdout, and to its end.
For the cold figure, run it in a fresh clone with an empty target directory
(docs/benchmarks.md says how it was measured). cargo's and xtask's own output go to
CLONE/target/first-token.log.
"""
import os
import subprocess
import sys
import time

workflow = sys.argv[1] if len(sys.argv) > 1 else "examples/hello.relavium.yaml"
clone = sys.argv[2] if len(sys.argv) > 2 else "."
os.makedirs(os.path.join(clone, "target"), exist_ok=True)
log = open(os.path.join(clone, "target", "first-token.log"), "w")
start = time.time()
run = subprocess.Popen(["cargo", "xtask", "run", workflow, "--json"], cwd=clone,
                       stdout=subprocess.PIPE, stderr=log)
first = None
for line in run.stdout:
    if first is None and b'"llm:delta"' in line:
        first = time.time() - start
run.wait()
end = time.time() - start
if first is None:
    print(f"no token; the command ended after {end:.1f} s, exit {run.returncode}")
    sys.exit(1)
print(f"first token {first:.1f} s, end {end:.1f} s, exit {run.returncode}")
