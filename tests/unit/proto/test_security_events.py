"""The teams issue's security events (#17, "Audit trail"): each has an action in the
catalog (`proto.audit.ACTIONS`) and the service that owns the event writes it. The
integration tests that see each record arrive are named beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from proto.audit import ACTIONS

ROOT = Path(__file__).resolve().parents[3]
AUTH = "auth-service/auth_service/service.py"
AUTH_TEST = "tests/integration/auth/test_auth_security_events.py"

# The words → (action, the module that writes it, a test that sees it recorded).
SECURITY_EVENTS: dict[str, tuple[str, str, str]] = {
    "sign-in": ("auth.sign_in", AUTH, AUTH_TEST),
    "sign-out": ("auth.sign_out", AUTH, AUTH_TEST),
    "sign-out everywhere": ("auth.sign_out_all", AUTH, AUTH_TEST),
    "token created": ("token.create", AUTH, AUTH_TEST),
    "token revoked": ("token.revoke", AUTH, AUTH_TEST),
    "refresh-token reuse detected": ("auth.refresh_reuse", AUTH, AUTH_TEST),
    "membership change": ("member.update", AUTH, AUTH_TEST),
    "membership removed": ("member.remove", AUTH, AUTH_TEST),
    "member left": ("member.leave", AUTH, "tests/integration/auth/test_auth_audit.py"),
    "role created": ("role.create", AUTH, "tests/integration/auth/test_auth_audit.py"),
    "role changed": ("role.update", AUTH, "tests/integration/auth/test_auth_audit.py"),
    "role deleted": ("role.delete", AUTH, "tests/integration/auth/test_auth_audit.py"),
    "invitation created": ("member.invite", AUTH, AUTH_TEST),
    "invitation accepted": ("member.join", AUTH, AUTH_TEST),
    "invitation revoked": ("invitation.revoke", AUTH, AUTH_TEST),
    "account deleted": ("account.delete", AUTH, AUTH_TEST),
    "bot token replaced": (
        "bot.token_replace",
        "bot-service/bot_service/service.py",
        "tests/integration/bots/test_bots_workspaces.py",
    ),
    "secret set": (
        "connection.secret_set",
        "command-service/command_service/service.py",
        "tests/integration/commands/test_commands_workspaces.py",
    ),
}


@pytest.mark.parametrize("event", sorted(SECURITY_EVENTS))
def test_each_security_event_is_a_cataloged_action_written_by_its_service(event: str) -> None:
    action, module, test = SECURITY_EVENTS[event]
    assert action in ACTIONS, f"{event}: {action} is not in proto.audit.ACTIONS"
    assert f'"{action}"' in (ROOT / module).read_text(), f"{event}: {module} never writes {action}"
    assert action in (ROOT / test).read_text(), f"{event}: {test} does not check {action}"
