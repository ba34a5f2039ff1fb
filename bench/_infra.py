"""What the benchmarks share: the embedded PostgreSQL and NATS they run on (started like
`make run`) and their command line."""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.devstack.stack import Infra


@contextmanager
def embedded_infra(prefix: str, *, durable: bool) -> Iterator[Infra]:
    """Infra in a fresh folder (`infra.data_dir`), stopped and removed afterwards: a run
    leaves up to a few GB behind. `durable`: JetStream and PostgreSQL sync to disk as in
    production (for figures that depend on it)."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir.chmod(0o755)
    infra = Infra(data_dir, durable=durable, progress=lambda _: None)
    infra.start()
    try:
        yield infra
    finally:
        infra.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def command_line(main: Callable[..., object]) -> None:
    """Run a benchmark's `main` from the command line: each keyword of `main` is an option
    with its default (`events=300_000` -> `--events 300000`), so the two never differ."""
    parser = argparse.ArgumentParser(
        description=sys.modules[main.__module__].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, param in inspect.signature(main).parameters.items():
        option = "--" + name.replace("_", "-")
        parser.add_argument(option, dest=name, type=type(param.default), default=param.default)
    main(**vars(parser.parse_args()))
