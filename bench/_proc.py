"""Process figures shared by the benchmarks (Linux /proc; no product imports, so a
benchmark that measures only the sandbox can use it)."""

from __future__ import annotations

from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")
