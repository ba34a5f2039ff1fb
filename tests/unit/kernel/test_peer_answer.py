"""`peer_answer`: a dependency that is down is the request's 503 naming it; its other
answers (an error of its own included) pass through unchanged."""

from __future__ import annotations

import pytest

from proto.errors import ErrorCode
from services.errors import RpcError, not_found, peer_answer


async def _fails(err: RpcError) -> int:
    raise err


async def _answers() -> int:
    return 7


async def test_an_answer_passes_through() -> None:
    assert await peer_answer("bot", _answers()) == 7


@pytest.mark.parametrize("code", [ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE])
async def test_a_silent_or_absent_service_is_unavailable_naming_it(code: ErrorCode) -> None:
    with pytest.raises(RpcError) as caught:
        await peer_answer("bot", _fails(RpcError(code, "rpc.bot.get took too long")), ", x")
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.details == {"service": "bot"}
    assert caught.value.message == "the bot service did not answer, x; try again"


async def test_the_services_own_refusal_is_kept() -> None:
    with pytest.raises(RpcError) as caught:
        await peer_answer("bot", _fails(not_found("bot")))
    assert caught.value.code is ErrorCode.NOT_FOUND
