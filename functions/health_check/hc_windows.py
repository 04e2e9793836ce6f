"""Maintenance windows: `{cron, duration_minutes, timezone}` per target. A window starts at every time the cron
expression matches (read in the window's time zone) and lasts duration_minutes of real time.

Cron: five fields separated by spaces, `minute hour day-of-month month day-of-week`. Each field is a list of
items `*`, `N`, `N-M` (a range; M below N wraps around, e.g. hours 22-2), each optionally `/step` (`N/step`
runs from N to the field's end). Months JAN-DEC and days SUN-SAT may be named (any case); day-of-week 0 and 7
are Sunday. As in Vixie cron, when both day fields are restricted (do not start with `*`), a day matches when
either does. modules/health-check/variables.tf validates the same grammar (CRON below) at plan time.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from hc_fields import fail, optional_number, printable

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_STEP = r"(/[1-9][0-9]?)?"
_VALUES = (
    r"[0-5]?[0-9]",  # minute
    r"[01]?[0-9]|2[0-3]",  # hour
    r"0?[1-9]|[12][0-9]|3[01]",  # day of month
    r"0?[1-9]|1[0-2]|" + "|".join(MONTHS),  # month
    r"[0-7]|" + "|".join(DAYS),  # day of week
)


def _field(values: str) -> str:
    item = rf"(\*|({values})(-({values}))?){_STEP}"
    return rf"{item}(,{item})*"


CRON = re.compile("(?i)" + " +".join(f"({_field(v)})" for v in _VALUES))
ZONE = re.compile(r"UTC|[A-Z][A-Za-z_-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){1,2}")  # as the scheduler module's
MAX_DURATION_MINUTES = 10080  # a week
MAX_WINDOWS = 10
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))  # weekday 7 is read as 0


def _value(token: str, index: int) -> int:
    upper = token.upper()
    if index == 3 and upper in MONTHS:
        return MONTHS.index(upper) + 1
    if index == 4 and upper in DAYS:
        return DAYS.index(upper)
    return int(token)


def _expand(field: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    size = high - low + 1
    found: set[int] = set()
    for item in field.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        else:
            first, _, last = body.partition("-")
            start = _value(first, index)
            end = _value(last, index) if last else (high if step_text else start)
        if start <= end:
            found.update(range(start, end + 1, step))
        else:  # a range that wraps around the field's end (hours 22-2, FRI-MON)
            found.update(low + (start - low + offset) % size for offset in range(0, end + size - start + 1, step))
    return frozenset(v % 7 for v in found) if index == 4 else frozenset(found)  # weekday 7 is Sunday (0)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month starts with *
    any_weekday: bool  # day of week starts with *

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if not self.any_day and not self.any_weekday:
            return by_day or by_weekday
        return by_day and by_weekday


def parse_cron(value: str) -> Cron | None:
    """The cron expression, or None when it does not follow the grammar."""
    if not CRON.fullmatch(value):
        return None
    fields = value.split()
    minutes, hours, days, months, weekdays = (_expand(f, i) for i, f in enumerate(fields))
    return Cron(value, minutes, hours, days, months, weekdays, fields[2].startswith("*"), fields[4].startswith("*"))


@dataclass(frozen=True)
class Window:
    cron: Cron
    minutes: int
    timezone: str

    def start_covering(self, now: dt.datetime) -> dt.datetime | None:
        """The start (UTC) of this window's occurrence that covers `now` (aware), or None."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        length = dt.timedelta(minutes=self.minutes)
        local_now = now.astimezone(zone)
        day = (now - length).astimezone(zone).date() - dt.timedelta(days=1)
        latest: dt.datetime | None = None
        while day <= local_now.date():
            if self.cron.day_matches(day):
                for hour in sorted(self.cron.hours):
                    for minute in sorted(self.cron.minutes):
                        start = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(dt.UTC)
                        if start <= now < start + length:
                            latest = start
            day += dt.timedelta(days=1)
        return latest

    def describe(self) -> str:
        return f"maintenance window '{self.cron.text}' ({self.minutes} min, {self.timezone})"


def parse_windows(value: Any, where: str) -> tuple[Window, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_WINDOWS:
        raise fail(where, f"maintenance must be a list of at most {MAX_WINDOWS} windows, got {common.clip(value)}")
    windows = []
    for i, raw in enumerate(value):
        at = f"{where}: maintenance[{i}]"
        if not isinstance(raw, Mapping):
            raise common.ConfigError(f"{at} must be an object {{cron, duration_minutes, timezone}}")
        unknown = sorted(str(k) for k in set(raw) - {"cron", "duration_minutes", "timezone"})
        if unknown:
            raise common.ConfigError(f"{at}: unknown field(s) {printable(', '.join(unknown))}")
        cron_text = raw.get("cron")
        cron = parse_cron(cron_text) if isinstance(cron_text, str) and len(cron_text) <= 256 else None
        if cron is None:
            raise common.ConfigError(
                f"{at}: cron {common.clip(cron_text)!r} must be five fields 'minute hour day month weekday' "
                "(*, N, N-M, lists and /step; months JAN-DEC, weekdays SUN-SAT)"
            )
        minutes = optional_number(raw, "duration_minutes", at, 1, MAX_DURATION_MINUTES, whole=True)
        if minutes is None:
            raise common.ConfigError(f"{at}: duration_minutes is required")
        zone = raw.get("timezone", "UTC")
        zone = "UTC" if zone is None else zone
        if not isinstance(zone, str) or not ZONE.fullmatch(zone):
            raise common.ConfigError(f"{at}: timezone {common.clip(zone)!r} must be an IANA name such as Europe/Berlin")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise common.ConfigError(f"{at}: timezone {zone!r} is not a known time zone") from None
        windows.append(Window(cron, int(minutes), zone))
    return tuple(windows)


def active_window(windows: tuple[Window, ...], now: dt.datetime) -> str | None:
    """Why a target is suppressed by its maintenance at `now`, or None."""
    for window in windows:
        start = window.start_covering(now)
        if start is not None:
            return f"{window.describe()} since {start:%Y-%m-%dT%H:%MZ}"
    return None
