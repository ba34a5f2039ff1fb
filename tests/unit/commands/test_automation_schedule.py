"""Schedules (#18): the next fire times people see and the scheduler uses, across DST
changes, and what fires after downtime (`missed`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from command_service.execution.schedule import check_schedule, fire_now, next_runs
from proto.automations import ScheduleTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def schedule(**kw: Any) -> ScheduleTrigger:
    return ScheduleTrigger.model_validate({"type": "schedule", **kw})


def local(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for t in instants]


def test_weekdays_at_nine_in_berlin_skip_the_weekend() -> None:
    friday_noon = datetime(2027, 1, 8, 12, 0, tzinfo=BERLIN)
    runs = next_runs(schedule(cron="0 9 * * 1-5", timezone="Europe/Berlin"), friday_noon, 5)
    assert local(runs, BERLIN) == [
        "2027-01-11 09:00 CET", "2027-01-12 09:00 CET", "2027-01-13 09:00 CET",
        "2027-01-14 09:00 CET", "2027-01-15 09:00 CET",
    ]  # fmt: skip
    assert all(t.tzinfo == UTC for t in runs)


def test_a_0230_schedule_on_the_spring_forward_day_fires_once_right_after_the_gap() -> None:
    # Europe/Berlin: 2027-03-28 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    before = datetime(2027, 3, 26, 12, 0, tzinfo=BERLIN)
    runs = next_runs(schedule(cron="30 2 * * *", timezone="Europe/Berlin"), before, 4)
    assert local(runs, BERLIN) == [
        "2027-03-27 02:30 CET", "2027-03-28 03:00 CEST", "2027-03-29 02:30 CEST",
        "2027-03-30 02:30 CEST",
    ]  # fmt: skip
    assert runs[1] == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_every_quarter_hour_in_the_gap_is_one_fire_not_four() -> None:
    before = datetime(2027, 3, 28, 1, 50, tzinfo=BERLIN)
    runs = next_runs(schedule(cron="*/15 * * * *", timezone="Europe/Berlin"), before, 3)
    assert local(runs, BERLIN) == [
        "2027-03-28 03:00 CEST", "2027-03-28 03:15 CEST", "2027-03-28 03:30 CEST",
    ]  # fmt: skip


def test_a_0130_schedule_on_the_fall_back_day_fires_once_at_the_first_occurrence() -> None:
    # America/New_York: 2027-11-07 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    before = datetime(2027, 11, 6, 12, 0, tzinfo=NEW_YORK)
    runs = next_runs(schedule(cron="30 1 * * *", timezone="America/New_York"), before, 3)
    assert local(runs, NEW_YORK) == [
        "2027-11-07 01:30 EDT", "2027-11-08 01:30 EST", "2027-11-09 01:30 EST",
    ]  # fmt: skip
    # Asked from within the second 01:00 to 02:00 (EST), the first 01:30 has passed: not again.
    second_pass = datetime(2027, 11, 7, 6, 10, tzinfo=UTC)  # 01:10 EST
    again = next_runs(schedule(cron="30 1 * * *", timezone="America/New_York"), second_pass, 1)
    assert local(again, NEW_YORK) == ["2027-11-08 01:30 EST"]


def test_every_n_minutes_counts_from_the_anchor_in_utc_whatever_the_zone() -> None:
    anchor = datetime(2027, 3, 28, 0, 58, 30, tzinfo=UTC)
    trigger = schedule(every_minutes=30, timezone="Europe/Berlin")
    runs = next_runs(trigger, anchor, 3, anchor=anchor)
    assert [t - anchor for t in runs] == [timedelta(minutes=30 * k) for k in (1, 2, 3)]
    later = next_runs(trigger, anchor + timedelta(minutes=61), 1, anchor=anchor)
    assert later == [anchor + timedelta(minutes=90)]


def test_at_is_once_a_naive_time_is_read_in_the_zone() -> None:
    trigger = schedule(at="2027-06-01T09:00:00", timezone="Europe/Berlin")
    runs = next_runs(trigger, datetime(2027, 5, 1, tzinfo=UTC), 5)
    assert runs == [datetime(2027, 6, 1, 7, 0, tzinfo=UTC)]
    assert next_runs(trigger, runs[0], 5) == []
    past = check_schedule(trigger, datetime(2027, 6, 2, tzinfo=UTC))
    assert past == [(("trigger", "at"), "is in the past")]


def test_a_cron_value_out_of_range_is_a_field_error() -> None:
    errors = check_schedule(schedule(cron="61 * * * *"), datetime(2027, 1, 1, tzinfo=UTC))
    assert [loc for loc, _ in errors] == [("trigger", "cron")]
    assert "not a valid cron expression" in errors[0][1]
    assert check_schedule(schedule(cron="0 9 * * MON-FRI"), datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_on_time_due_times_fire_missed_ones_follow_the_missed_setting() -> None:
    hourly = {"cron": "0 * * * *", "timezone": "UTC"}
    due = datetime(2027, 1, 1, 10, 0, tzinfo=UTC)
    # On time (0.4 s late): it fires, the next is an hour later.
    fire, following = fire_now(schedule(**hourly), due, due + timedelta(seconds=0.4))
    assert fire == [due]
    assert following == due + timedelta(hours=1)
    # Down until 12:00:30: 10:00 and 11:00 were missed, 12:00 is on time.
    back = due + timedelta(hours=2, seconds=30)
    fire, _ = fire_now(schedule(**hourly, missed="run_once"), due, back)
    assert fire == [due + timedelta(hours=2)]
    # Down until 12:30: all three were missed. `skip` fires none; `run_once` the latest once.
    now = due + timedelta(hours=2, minutes=30)
    fire, following = fire_now(schedule(**hourly, missed="skip"), due, now)
    assert (fire, following) == ([], due + timedelta(hours=3))
    fire, following = fire_now(schedule(**hourly, missed="run_once"), due, now)
    assert (fire, following) == ([due + timedelta(hours=2)], due + timedelta(hours=3))


def test_a_one_off_that_was_missed_runs_once_or_never_and_is_then_done() -> None:
    at = datetime(2027, 1, 1, 10, 0, tzinfo=UTC)
    later = at + timedelta(hours=2)
    assert fire_now(schedule(at=at.isoformat(), missed="run_once"), at, later) == ([at], None)
    assert fire_now(schedule(at=at.isoformat(), missed="skip"), at, later) == ([], None)
