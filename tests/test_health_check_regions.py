"""Agreement across regions, handler side: with HOME_REGION the function also sends each target's Failed (and,
while suppressed, Suppressed) to the home region's CloudWatch with the dimensions Target and Region (moto),
keeps its EMF lines for the local logs, and does not fail the run for a failed target (the home's k-of-N alarm
decides). Real HTTP servers on 127.0.0.1.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import opskit_common as common
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from test_health_check_support import Route, Server, by_name, emf_lines, http, run  # noqa: F401

NAMESPACE = "opskit/HealthCheck"


@pytest.fixture(autouse=True)
def fresh_clients(load_handler: Callable[[str], Any]) -> Iterator[None]:
    """The cross-region CloudWatch clients are cached per process; each test gets new ones inside its mock."""
    load_handler("health_check")
    import hc_results

    hc_results.reset_clients()
    yield
    hc_results.reset_clients()


def published(region: str, target: str, from_region: str, metric: str = "Failed") -> list[float]:
    now = dt.datetime.now(dt.UTC)
    answer = boto3.client("cloudwatch", region_name=region).get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "Target", "Value": target}, {"Name": "Region", "Value": from_region}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )
    return [p["Maximum"] for p in answer["Datapoints"]]


@mock_aws
def test_a_probe_publishes_to_its_home_and_does_not_fail_the_run(
    http: Server, run: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    http.routes.update({"/up": Route(), "/down": Route(status=503)})
    outcome = run(
        [{"name": "shop", "url": http.url("/up")}, {"name": "api", "url": http.url("/down")}],
        HOME_REGION="eu-central-1",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        METRIC_NAMESPACE=NAMESPACE,
    )
    assert outcome["raised"] is None and outcome["failed"] == 1  # a failed target is a result here, not an error
    assert by_name(outcome)["api"]["reason"] == "status 503 not in [200]"
    assert published("eu-central-1", "api", "us-east-1") == [1.0]
    assert published("eu-central-1", "shop", "us-east-1") == [0.0]
    assert published("us-east-1", "api", "us-east-1") == []  # nothing in the probe's own region
    emf = emf_lines(capsys.readouterr().out)  # the local EMF lines stay, with the dimension Target only
    assert emf["api"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Target"]] and emf["api"]["Failed"] == 1


@mock_aws
def test_the_home_publishes_to_itself_with_suppression(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes.update({"/down": Route(status=500)})
    outcome = run(
        [
            {"name": "db", "url": http.url("/down")},
            {"name": "api", "url": http.url("/down"), "depends_on": ["db"]},
        ],
        HOME_REGION="eu-central-1",
        REGIONS="eu-central-1,us-east-1,ap-southeast-2",
        MIN_FAILED_REGIONS="2",
        METRIC_NAMESPACE=NAMESPACE,
    )
    assert outcome["raised"] is None and (outcome["failed"], outcome["suppressed"]) == (1, 1)
    assert published("eu-central-1", "db", "eu-central-1") == [1.0]
    assert published("eu-central-1", "api", "eu-central-1") == [0.0]
    assert published("eu-central-1", "api", "eu-central-1", metric="Suppressed") == [1.0]
    assert published("eu-central-1", "db", "eu-central-1", metric="Suppressed") == []


@mock_aws
def test_a_publishing_failure_is_raised_after_every_target_was_reported(
    http: Server,
    run: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hc_results

    class Refusing:
        def put_metric_data(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutMetricData")

    monkeypatch.setattr(hc_results, "_client", lambda region, own: Refusing())
    http.routes["/up"] = Route()
    outcome = run([{"name": "shop", "url": http.url("/up")}], HOME_REGION="eu-central-1", AWS_REGION="us-east-1")
    assert outcome["raised"] == "publishing to eu-central-1 failed: ThrottlingException"
    assert outcome["problems"] == ["publishing to eu-central-1 failed: ThrottlingException"]
    assert outcome["results"][0]["ok"] is True and "shop" in emf_lines(capsys.readouterr().out)


def test_many_targets_go_out_in_calls_of_500_datums(load_handler: Callable[[str], Any]) -> None:
    load_handler("health_check")
    import hc_results

    calls: list[int] = []

    class Counting:
        def put_metric_data(self, Namespace: str, MetricData: list[Any]) -> None:
            calls.append(len(MetricData))

    results = [
        hc_results.Result(name=f"t{i}", url="u", ok=False, suppressed="window" if i % 2 else None) for i in range(400)
    ]
    original = hc_results._client
    hc_results._client = lambda region, own: Counting()  # type: ignore[assignment]
    try:
        assert hc_results.publish(results, NAMESPACE, "eu-central-1", "us-east-1", dt.datetime.now(dt.UTC)) is None
    finally:
        hc_results._client = original  # type: ignore[assignment]
    assert calls == [500, 100]  # 400 Failed + 200 Suppressed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOME_REGION": "Europe"}, "HOME_REGION='Europe' is not valid"),
        ({"HOME_REGION": "eu-central-1", "AWS_REGION": "local"}, "AWS_REGION='local' is not a region"),
        ({"REGIONS": "eu-central-1,us-east-1"}, "REGIONS='eu-central-1,us-east-1' must list"),  # no HOME_REGION
        ({"HOME_REGION": "eu-central-1", "REGIONS": "us-east-1,eu-central-1"}, "this home region (eu-central-1) first"),
        ({"HOME_REGION": "eu-central-1", "REGIONS": "eu-central-1,eu-central-1"}, "distinct regions"),
        (
            {
                "HOME_REGION": "eu-central-1",
                "REGIONS": ",".join(["eu-central-1"] + [f"us-east-{i}" for i in range(1, 11)]),
            },
            "up to 10",
        ),
        (
            {"HOME_REGION": "eu-central-1", "REGIONS": "eu-central-1,us-east-1", "MIN_FAILED_REGIONS": "3"},
            "between 1 and 2",
        ),
    ],
)
def test_region_settings_are_checked_at_cold_start(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps([{"name": "shop", "url": "https://shop.test/"}]))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(common.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_handler("health_check").handler({}, None)
