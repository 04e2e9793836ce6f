"""Maintenance windows and dependencies: a target inside a window, or whose dependency failed in the same run, is
reported Suppressed=1 (metric and log line with the reason), writes Failed=0 and does not fail the run; only the
root cause pages. Real HTTP servers on 127.0.0.1; time-machine moves the clock into and out of the windows.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable
from typing import Any

import opskit_common as common
import pytest
import time_machine
from test_health_check_support import Route, Server, by_name, emf_lines, http, run  # noqa: F401

BERLIN_SUNDAY_0230 = dt.datetime(2026, 11, 22, 1, 30, tzinfo=dt.UTC)  # Sunday 02:30 in Berlin (CET, UTC+1)
WINDOW = {"cron": "0 2 * * SUN", "duration_minutes": 120, "timezone": "Europe/Berlin"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failure_inside_a_maintenance_window_is_suppressed(
    http: Server,
    run: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    http.routes["/deploying"] = Route(status=503, body=b"deploying")
    target = [{"name": "shop", "url": http.url("/deploying"), "maintenance": [WINDOW]}]
    with time_machine.travel(BERLIN_SUNDAY_0230, tick=True):
        inside = run(target)
    emf = emf_lines(capsys.readouterr().out)["shop"]
    assert inside["raised"] is None and (inside["failed"], inside["suppressed"]) == (0, 1)
    (result,) = inside["results"]
    assert result["ok"] is False and result["reason"] == "status 503 not in [200]"
    assert result["suppressed"] == ("maintenance window '0 2 * * SUN' (120 min, Europe/Berlin) since 2026-11-22T01:00Z")
    assert (emf["Success"], emf["Failed"], emf["Suppressed"]) == (0, 0, 1)
    (line,) = [r for r in caplog.records if getattr(r, "target", None) == "shop"]
    assert line.levelname == "INFO" and line.suppressed == result["suppressed"]

    with time_machine.travel(BERLIN_SUNDAY_0230 + dt.timedelta(hours=2), tick=True):  # 04:30: the window is over
        after = run(target)
    emf = emf_lines(capsys.readouterr().out)["shop"]
    assert after["raised"] == "1 of 1 health checks failed: shop (status 503 not in [200])"
    assert (emf["Failed"], "Suppressed" in emf) == (1, False)


def test_a_healthy_target_inside_its_window_is_suppressed_too(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    """A window is excluded from the uptime report as a whole, so the metric says so even when the check passed."""
    http.routes["/fine"] = Route()
    with time_machine.travel(BERLIN_SUNDAY_0230, tick=True):
        outcome = run([{"name": "shop", "url": http.url("/fine"), "maintenance": [WINDOW]}])
    assert outcome["results"][0]["ok"] is True and outcome["suppressed"] == 1


def test_only_the_root_cause_pages(
    http: Server, run: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """db is down; api (depends on db) and shop (depends on api) fail with it and are suppressed; blog depends on
    db but still answers, so it is simply healthy."""
    http.routes.update({"/api": Route(status=502, body=b"bad gateway"), "/shop": Route(status=500), "/blog": Route()})
    port = _closed_port()
    outcome = run(
        [
            {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": port},
            {"name": "api", "url": http.url("/api"), "depends_on": ["db"]},
            {"name": "shop", "url": http.url("/shop"), "depends_on": ["api"]},
            {"name": "blog", "url": http.url("/blog"), "depends_on": ["db"]},
        ]
    )
    results = by_name(outcome)
    assert outcome["raised"] == f"1 of 4 health checks failed: db (connection to 127.0.0.1:{port} refused)"
    assert (results["api"]["suppressed"], results["shop"]["suppressed"]) == (
        "dependency db failed",
        "dependency api failed",
    )
    assert "suppressed" not in results["db"] and "suppressed" not in results["blog"]
    emf = emf_lines(capsys.readouterr().out)
    assert {n: (d["Failed"], d.get("Suppressed")) for n, d in emf.items()} == {
        "db": (1, None),
        "api": (0, 1),
        "shop": (0, 1),
        "blog": (0, None),
    }


def test_a_root_cause_inside_its_window_pages_no_one(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/api"] = Route(status=502)
    with time_machine.travel(BERLIN_SUNDAY_0230, tick=True):
        outcome = run(
            [
                {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": _closed_port(), "maintenance": [WINDOW]},
                {"name": "api", "url": http.url("/api"), "depends_on": ["db"]},
            ]
        )
    assert outcome["raised"] is None and (outcome["failed"], outcome["suppressed"]) == (0, 2)


def test_a_dependency_that_was_not_checked_suppresses_nothing(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/api"] = Route(status=502)
    targets = [
        {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": _closed_port()},
        {"name": "api", "url": http.url("/api"), "depends_on": ["db"]},
    ]
    outcome = run(targets, event={"targets": ["api"]})
    assert outcome["raised"] == "1 of 1 health checks failed: api (status 502 not in [200])"


# --- the windows themselves --------------------------------------------------------------------------------


@pytest.fixture
def windows(load_handler: Callable[[str], Any]) -> Any:
    load_handler("health_check")
    import hc_windows

    return hc_windows


def _window(windows: Any, cron: str, minutes: int, zone: str = "UTC") -> Any:
    (window,) = windows.parse_windows([{"cron": cron, "duration_minutes": minutes, "timezone": zone}], "t")
    return window


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("cron", "minutes", "zone", "now", "start"),
    [
        ("0 2 * * SUN", 120, "Europe/Berlin", "2026-11-22T02:00:00+01:00", "2026-11-22T01:00:00+00:00"),
        ("0 2 * * SUN", 120, "Europe/Berlin", "2026-11-22T03:59:59+01:00", "2026-11-22T01:00:00+00:00"),
        ("0 2 * * SUN", 120, "Europe/Berlin", "2026-11-22T04:00:00+01:00", None),
        ("0 2 * * SUN", 120, "Europe/Berlin", "2026-11-23T02:30:00+01:00", None),  # Monday
        ("0 23 * * *", 120, "UTC", "2026-11-23T00:30:00+00:00", "2026-11-22T23:00:00+00:00"),  # over midnight
        ("0 22-2 * * *", 30, "UTC", "2026-11-23T01:10:00+00:00", "2026-11-23T01:00:00+00:00"),  # wrapping hours
        ("0 12 * * FRI-MON", 60, "UTC", "2026-11-22T12:30:00+00:00", "2026-11-22T12:00:00+00:00"),  # Sunday
        ("0 12 * * FRI-MON", 60, "UTC", "2026-11-24T12:30:00+00:00", None),  # Tuesday
        ("0 12 * * 7", 60, "UTC", "2026-11-22T12:30:00+00:00", "2026-11-22T12:00:00+00:00"),  # 7 is Sunday
        ("0 0 1 * MON", 60, "UTC", "2026-11-23T00:30:00+00:00", "2026-11-23T00:00:00+00:00"),  # day OR weekday
        ("0 0 1 * MON", 60, "UTC", "2026-12-01T00:30:00+00:00", "2026-12-01T00:00:00+00:00"),
        ("0 0 1 * MON", 60, "UTC", "2026-12-02T00:30:00+00:00", None),
        ("0 0 */2 * *", 60, "UTC", "2026-11-03T00:30:00+00:00", "2026-11-03T00:00:00+00:00"),  # 1, 3, 5, ...
        ("0 0 */2 * *", 60, "UTC", "2026-11-04T00:30:00+00:00", None),
        ("*/15 * * * *", 5, "UTC", "2026-11-04T10:47:00+00:00", "2026-11-04T10:45:00+00:00"),
        ("0 0 1 JAN *", 10080, "UTC", "2027-01-07T23:59:00+00:00", "2027-01-01T00:00:00+00:00"),  # a week long
        # 01:30 New York on the day clocks go back happens twice; the window counts real minutes from the first
        ("30 1 * * *", 30, "America/New_York", "2026-11-01T05:45:00+00:00", "2026-11-01T05:30:00+00:00"),
        ("30 1 * * *", 30, "America/New_York", "2026-11-01T06:15:00+00:00", None),
    ],
)
def test_when_a_window_is_open(windows: Any, cron: str, minutes: int, zone: str, now: str, start: str | None) -> None:
    found = _window(windows, cron, minutes, zone).start_covering(_at(now))
    assert found == (None if start is None else _at(start))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"cron": "0 2 * *", "duration_minutes": 5}], "cron '0 2 * *' must be five fields"),
        ([{"cron": "0 2 * * *", "duration_minutes": 0}], "duration_minutes must be a whole number between 1 and 10080"),
        ([{"cron": "0 2 * * *"}], "duration_minutes is required"),
        ([{"cron": "0 2 * * *", "duration_minutes": 5, "timezone": "Mars/Olympus"}], "'Mars/Olympus' is not a known"),
        ([{"cron": "0 2 * * *", "duration_minutes": 5, "zone": "UTC"}], "unknown field(s) zone"),
        ([{"cron": "0 2 * * *", "duration_minutes": 5}] * 11, "at most 10 windows"),
        ("0 2 * * *", "maintenance must be a list"),
    ],
)
def test_bad_windows_name_the_target(windows: Any, raw: Any, message: str) -> None:
    with pytest.raises(common.ConfigError) as caught:
        windows.parse_windows(raw, "target 'shop'")
    assert str(caught.value).startswith("target 'shop'") and message in str(caught.value)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            [{"name": "a", "url": "https://a.test", "depends_on": ["b"]}],
            "target 'a': depends_on names unknown target(s) b",
        ),
        (
            [{"name": "a", "url": "https://a.test", "depends_on": ["a"]}],
            "target 'a': depends_on must not name the target itself",
        ),
        (
            [
                {"name": "a", "url": "https://a.test", "depends_on": ["b"]},
                {"name": "b", "url": "https://b.test", "depends_on": ["c"]},
                {"name": "c", "url": "https://c.test", "depends_on": ["a"]},
            ],
            "TARGETS: depends_on forms a cycle: a -> b -> c -> a",
        ),
        (
            [{"name": "a", "url": "https://a.test", "depends_on": "b"}],
            "target 'a': depends_on must be a list of target names, got b",
        ),
    ],
)
def test_bad_dependencies_are_refused_at_cold_start(
    targets: list[dict[str, Any]], message: str, load_handler: Callable[[str], Any]
) -> None:
    handler = load_handler("health_check")
    with pytest.raises(common.ConfigError) as caught:
        handler.Config.from_env({"TARGETS": json.dumps(targets)})
    assert str(caught.value) == message or str(caught.value).startswith(message)


def test_a_long_dependency_chain_is_no_cycle(load_handler: Callable[[str], Any]) -> None:
    targets = [{"name": f"t{i}", "url": "https://x.test", "depends_on": [f"t{i + 1}"]} for i in range(300)]
    targets.append({"name": "t300", "url": "https://x.test"})
    config = load_handler("health_check").Config.from_env({"TARGETS": json.dumps(targets)})
    assert config.targets[0].depends_on == ("t1",)
