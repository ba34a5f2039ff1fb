"""`make bench` / `python -m bench [NAME ...]`: run benchmarks, write bench/results/NAME.json.

Every `bench/<name>.py` (not starting with `_`) exposes `main() -> dict[str, object]` that
drives the real stack on loopback, prints its figures and returns them. Each runs in its
own process so one benchmark's servers and memory never colour the next one's figures.
The result file records the commit and the machine next to the figures, so numbers from
different machines are never compared by accident.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MARKER = "BENCH_RESULT "
CHILD = (
    "import json, sys\n"
    "from bench.{name} import main\n"
    "figures = main()\n"
    "sys.stdout.write('\\n" + MARKER + "' + json.dumps(figures, default=str) + '\\n')\n"
)


def available() -> list[str]:
    return sorted(
        p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "__main__"
    )


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return {"sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict[str, Any]:
    mem_kib = 0
    model = platform.processor()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_mib": mem_kib // 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_one(name: str) -> dict[str, Any] | None:
    print(f"== bench {name}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(name=name)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    figures: dict[str, Any] | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(MARKER):
            figures = json.loads(line[len(MARKER) :])
        elif line.strip():
            print(f"   {line.rstrip()}", flush=True)
    if proc.wait() != 0 or figures is None:
        print(f"!! bench {name} failed (exit {proc.returncode})", flush=True)
        return None
    result = {
        "name": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "commit": commit(),
        "machine": machine(),
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"   -> bench/results/{name}.json", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}")
        return 2
    failed = [n for n in (args.names or names) if run_one(n) is None]
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
