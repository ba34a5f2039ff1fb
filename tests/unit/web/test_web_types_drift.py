"""The console's TypeScript types are generated from the contracts' JSON Schemas; a contract
change without `npm run gen:types` (or a build) fails here, like the proto export drift test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_generated_types_match_the_contracts() -> None:
    done = subprocess.run(
        ["node", str(ROOT / "web" / "scripts" / "gen-types.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
