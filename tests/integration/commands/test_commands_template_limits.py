"""Template memory limits through the whole stack (issue #23, item 1): a signed-in user
previews templates that would make command-service allocate hundreds of MB. Each preview
answers what the preview contract says for a render error (200, outcome "error", the
sandbox's refusal in `error`), and the command-service process's peak resident memory
(VmHWM in /proc) barely moves. `wordwrap` and `truncate` render again."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.fixtures.auth import sign_in
from tests.integration.commands.gateway_api import command_body as _cmd

# The five payloads of the issue and a few more families; each would allocate 50 MB to
# a few GB unguarded (the macro doubles a string 40 times).
HOSTILE = [
    "{{ 'a'.ljust(300000000)|length }}",
    "{{ (range(1000)|join('x'*99999))|length }}",
    "{{ '{:>50000000}'.format(1) }}",
    "{{ ('a'*1000).replace('a','b'*99999) }}",
    "{{ 'a'.center(10**8) }}",
    "{{ '%100000000d' % 1 }}",
    "{{ (2).to_bytes(10**8, 'big')|length }}",
    "{% macro m(s, n) %}{% if n %}{{ m(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
    "{% endmacro %}{{ m('a', 40) }}",
    "{% for i in range(1000) %}{% set x = 'a'.ljust(99999) %}{% endfor %}done",
]
# Unguarded, the first payload alone raised the service's peak memory by 293 MB.
HWM_GROWTH_LIMIT_KB = 32 * 1024


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


async def test_preview_refuses_templates_that_would_allocate_without_bound(
    auth_stack, sandbox, sandbox_control, command_service
) -> None:
    pid = command_service.proc.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"service" in cmdline  # the service itself, not a wrapper around it
    assert b"command" in cmdline
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers, timeout=20) as api:
        app = await sandbox_control.create_application(f"Tl Bot {uuid.uuid4().hex[:6]}")
        created = await api.post("/v1/bots", json={"name": "limits bot", "token": app.token})
        assert created.status_code == 201, created.text
        preview = f"/v1/bots/{created.json()['id']}/commands/preview"

        def body(source: str) -> dict[str, object]:
            return _cmd(name="probe", response={"type": "template", "content": source})

        # wordwrap and truncate take the environment: they answered 500 before.
        for source, expected in (
            ("{{ 'abc'|wordwrap(5) }}", "abc"),
            ("{{ 'abc'|truncate(5) }}", "abc"),
            ("{{ 'aaa bbb ccc'|wordwrap(7) }}", "aaa bbb\nccc"),
            ("{{ 'one two three four'|truncate(12) }}", "one two..."),
        ):
            answer = await api.post(preview, json=body(source))
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] == "ok", answer.text
            assert answer.json()["content"] == expected

        before = _vm_hwm_kb(pid)
        for source in HOSTILE:
            answer = await api.post(preview, json=body(source))
            assert answer.status_code == 200, answer.text
            reply = answer.json()
            assert reply["outcome"] == "error", (source, reply)
            assert reply["error"].startswith("refused by the template sandbox: "), reply
            assert "limit" in reply["error"], reply
        growth = _vm_hwm_kb(pid) - before
        assert growth < HWM_GROWTH_LIMIT_KB, f"command-service peak memory grew by {growth} kB"

        # The service still answers normally.
        fine = await api.post(preview, json=body("{{ 'ok' ~ '!' }}"))
        assert fine.status_code == 200, fine.text
        assert fine.json()["content"] == "ok!"
