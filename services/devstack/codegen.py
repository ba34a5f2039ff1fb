"""Generated files kept in the repository: write them, or check that they are current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def stale(outputs: dict[Path, str]) -> list[Path]:
    return [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]


def generator_main(
    outputs: Callable[[], dict[Path, str]],
    *,
    description: str,
    regenerate: str,
    argv: list[str] | None = None,
) -> int:
    """The command line of a generator: write every output, or `--check` for staleness."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    files = outputs()
    if args.check:
        old = stale(files)
        for path in old:
            print(f"{path} is stale: run {regenerate}", file=sys.stderr)
        return 1 if old else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0
