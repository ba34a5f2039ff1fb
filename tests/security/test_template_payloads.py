"""The template payload corpus (template_payloads.py) against the real `Renderer`.

Every payload is refused or renders within the limits, and raises the peak of traced
memory by under 16 MB. Memory is measured with `tracemalloc`: every str, bytes, list,
dict and int a template builds is a CPython object allocated through the traced
allocator domains (large ones too), on the worker thread as well, so the peak around one
render is what that render allocated; it does not count the interpreter's baseline as
ru_maxrss would, and needs no process per payload. (The HTTP test in
tests/integration/commands/test_commands_template_limits.py checks the real service's
VmHWM as well.)
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import AsyncIterator, Iterator

import pytest

from command_service.execution.templates import Renderer, RenderError
from tests.security.template_payloads import PAYLOADS, Payload

PEAK_LIMIT_MB = 16

ISSUE_PAYLOADS = [
    "{{ 'a'.ljust(300000000)|length }}",
    "{{ (range(1000)|join('x'*99999))|length }}",
    "{{ '{:>50000000}'.format(1) }}",
    "{{ ('a'*1000).replace('a','b'*99999) }}",
    "{{ 'a'.center(10**8) }}",
]


@pytest.fixture(scope="module")
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
async def renderer(traced: None) -> AsyncIterator[Renderer]:
    # A generous time limit: tracemalloc slows allocation down, and payloads that only
    # loop are meant to meet a size cap, not the clock.
    r = Renderer(timeout_s=3.0, max_output=16_000, workers=1)
    yield r
    r.close()


def test_the_corpus_covers_the_issue_and_every_family() -> None:
    sources = {p.source for p in PAYLOADS}
    assert len(PAYLOADS) >= 30
    assert set(ISSUE_PAYLOADS) <= sources
    families = {p.family for p in PAYLOADS}
    assert {
        "str method",
        "str.format",
        "% formatting",
        "repetition",
        "filters",
        "escaping",
        "range",
        "big int",
        "lists",
        "dicts",
        "loops",
        "blocks",
        "namespace",
    } <= families
    assert all((p.refused is None) != (p.output is None) for p in PAYLOADS)


@pytest.mark.parametrize(
    "payload",
    PAYLOADS,
    ids=[f"{i:03d}-{p.family.replace(' ', '_')}" for i, p in enumerate(PAYLOADS)],
)
async def test_a_payload_is_refused_or_rendered_within_limits(
    renderer: Renderer, payload: Payload
) -> None:
    variables = dict(payload.variables)
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        outcome, text = "rendered", await renderer.render(payload.source, variables)
    except RenderError as exc:
        outcome, text = "refused", str(exc)
    peak_mb = (tracemalloc.get_traced_memory()[1] - before) / 2**20
    assert peak_mb < PEAK_LIMIT_MB, f"{payload.source!r} raised peak memory by {peak_mb:.1f} MB"
    if payload.refused is not None:
        assert outcome == "refused", f"{payload.source!r} rendered {text[:100]!r}"
        assert re.search(payload.refused, text), text
    else:
        assert payload.output is not None
        assert outcome == "rendered", f"{payload.source!r} was refused: {text}"
        assert re.fullmatch(payload.output, text), text[:200]


@pytest.mark.parametrize(
    "payload",
    PAYLOADS,
    ids=[f"{i:03d}-{p.family.replace(' ', '_')}" for i, p in enumerate(PAYLOADS)],
)
def test_the_undefined_variable_check_runs_no_template_code(
    traced: None, payload: Payload
) -> None:
    """Preview and save look for undefined variables before anything renders. That walk must
    not evaluate the template: jinja2's own `find_undeclared_variables` folds constant
    expressions (`'a' * 10**9`, `'a'|center(10**8)`) outside the sandbox, and once let a
    preview raise command-service's peak memory by 293 MB."""
    from command_service.execution.variables import undefined_in

    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    undefined_in(payload.source, {})
    peak = tracemalloc.get_traced_memory()[1] - base
    assert peak < PEAK_LIMIT_MB * 1024 * 1024, f"{payload.source}: {peak / 2**20:.1f} MB"
