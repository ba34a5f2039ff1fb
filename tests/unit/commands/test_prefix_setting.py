"""A bot's command prefix: `!` by default, 1 to 5 characters without spaces, refused in plain
words (the console shows the message at the field as it is)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proto import commands as C


def test_the_default_prefix_is_an_exclamation_mark() -> None:
    assert C.CommandSettings().prefix == "!"
    assert C.CommandSettings.model_validate({}).prefix == "!"


@pytest.mark.parametrize("prefix", ["!", "?", "bot:", "$$$$$", "🤖"])
def test_short_prefixes_without_spaces_are_accepted(prefix: str) -> None:
    assert C.CommandSettings(prefix=prefix).prefix == prefix


@pytest.mark.parametrize("prefix", ["", "hey bot", "!!!!!!", " !", "!\t"])
def test_other_prefixes_are_refused_in_plain_words(prefix: str) -> None:
    with pytest.raises(ValidationError) as err:
        C.CommandSettings(prefix=prefix)
    [error] = err.value.errors()
    assert error["loc"] == ("prefix",)
    assert error["msg"] == "a prefix is 1 to 5 characters without spaces, like ! or ?"


def test_an_import_keeps_the_prefix_unless_it_names_one() -> None:
    assert C.BotImport().prefix is None
    with pytest.raises(ValidationError):
        C.BotImport(prefix="too long")
