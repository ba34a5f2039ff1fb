"""`stack`: the session's auth-service + gateway (tests/fixtures/auth.py, one per run)."""

from __future__ import annotations

import pytest

from tests.fixtures.auth import AuthStack


@pytest.fixture
def stack(auth_stack: AuthStack) -> AuthStack:
    return auth_stack
