"""The team world (tests/fixtures/teams.py): one whole stack and its people per module."""

from tests.fixtures.logs import publisher
from tests.fixtures.teams import team_world

__all__ = ["publisher", "team_world"]
