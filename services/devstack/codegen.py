"""Generated files kept in the repository: write them, or check that they are current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


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


class GeneratorCommand(Protocol):
    def __call__(self, argv: list[str] | None = None) -> int: ...


def generator_command(
    outputs: Callable[[], dict[Path, str]], *, doc: str | None, regenerate: str
) -> GeneratorCommand:
    """A generator script's `main`: its description is the first line of `doc` (the
    script's docstring); `regenerate` is the command a stale file's message names."""
    description = doc.splitlines()[0] if doc else ""

    def main(argv: list[str] | None = None) -> int:
        return generator_main(outputs, description=description, regenerate=regenerate, argv=argv)

    return main
