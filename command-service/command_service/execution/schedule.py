"""When a schedule trigger fires (#18): cron expressions on wall-clock time in the
schedule's zone, `every_minutes` counted in UTC from an anchor, `at` once.

Daylight saving time follows two rules (docs/design/automations.md §0.6), the ones cron
daemons use:
- a wall time that does not exist (spring forward: 02:30 in Europe/Berlin on the last
  Sunday of March) fires once, at the first instant after the gap (03:00 local); several
  skipped wall times (`*/15` in the gap) are that one instant, so they fire once;
- a wall time that happens twice (fall back: 01:30 in America/New_York on the first
  Sunday of November) fires once, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from proto.automations import ScheduleTrigger
from proto.commands import Loc

# A due time this late is "missed" (everything was down), not merely late: `missed` decides.
GRACE = timedelta(seconds=60)
# How many past due times a catch-up looks through at most (a minute schedule down a month).
_CATCH_UP_LIMIT = 50_000


def check_schedule(trigger: ScheduleTrigger, now: datetime) -> list[tuple[Loc, str]]:
    """What the contract cannot check alone: the cron values and an `at` in the past."""
    errors: list[tuple[Loc, str]] = []
    if trigger.cron is not None:
        try:
            CronSim(trigger.cron, datetime(2000, 1, 1))
        except CronSimError as exc:
            errors.append((("trigger", "cron"), f"is not a valid cron expression: {exc}"))
    if trigger.at is not None and at_instant(trigger) <= now:
        errors.append((("trigger", "at"), "is in the past"))
    return errors


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in `zone`, by the rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant  # exists (fold=0: the first of two, when it happens twice)
    # In a gap: the first instant after it is the transition, between the two readings.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = instant
    if low > high:
        low, high = high, low
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).utcoffset() == before:
            low = mid
        else:
            high = mid
    return high.replace(microsecond=0)


def at_instant(trigger: ScheduleTrigger) -> datetime:
    assert trigger.at is not None
    if trigger.at.tzinfo is not None:
        return trigger.at.astimezone(UTC)
    return wall_to_instant(trigger.at, ZoneInfo(trigger.timezone))


def _instants(trigger: ScheduleTrigger, after: datetime, anchor: datetime) -> Iterator[datetime]:
    """Due instants strictly after `after`, in order, without repeats."""
    if trigger.at is not None:
        at = at_instant(trigger)
        if at > after:
            yield at
        return
    if trigger.every_minutes is not None:
        step = timedelta(minutes=trigger.every_minutes)
        start = anchor.astimezone(UTC)
        n = max(0, int((after - start) // step) + 1) if after >= start else 0
        while True:
            yield start + n * step
            n += 1
    assert trigger.cron is not None
    zone = ZoneInfo(trigger.timezone)
    # From the wall time one gap before `after` (a gap's wall times map past it), filtered.
    wall = (after - timedelta(hours=3)).astimezone(zone).replace(tzinfo=None)
    last: datetime | None = None
    for local in CronSim(trigger.cron, wall):
        instant = wall_to_instant(local, zone)
        # Wall times only grow, and fold=0 keeps their instants in order: a repeat is the
        # gap's wall times all mapped to its end.
        if instant <= after or instant == last:
            continue
        last = instant
        yield instant


def next_runs(
    trigger: ScheduleTrigger, after: datetime, n: int, anchor: datetime | None = None
) -> list[datetime]:
    """The next `n` due instants (UTC) strictly after `after`. `anchor`: where an
    `every_minutes` schedule counts from (its creation)."""
    found: list[datetime] = []
    for instant in _instants(trigger, after, anchor or after):
        found.append(instant)
        if len(found) >= n:
            break
    return found


def fire_now(
    trigger: ScheduleTrigger, due: datetime, now: datetime, anchor: datetime | None = None
) -> tuple[list[datetime], datetime | None]:
    """For a schedule whose due time `due` has come (`due <= now`): the due times to fire
    now, and the next due time after `now` (None: it never fires again).

    Due times within GRACE of `now` are on time and fire; older ones were missed while
    everything was down: `skip` drops them, `run_once` fires the latest of them once (when
    nothing is on time)."""
    start = due - timedelta(microseconds=1)
    past: list[datetime] = []
    for instant in _instants(trigger, start, anchor or due):
        if instant > now or len(past) >= _CATCH_UP_LIMIT:
            break
        past.append(instant)
    on_time = [t for t in past if now - t <= GRACE]
    missed = [t for t in past if now - t > GRACE]
    fire = on_time
    if not on_time and missed and trigger.missed == "run_once":
        fire = [missed[-1]]
    following = next_runs(trigger, now, 1, anchor or due)
    return fire, following[0] if following else None
