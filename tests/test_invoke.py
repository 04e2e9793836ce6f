"""scripts/invoke.py, the `make invoke` CLI. moto's Lambda invoke needs Docker, so the lambda client is
a real botocore client with a Stubber: the tests see the exact request that would be sent."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import time_machine
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

SCRIPT = Path(__file__).resolve().parents[1] / "scripts/invoke.py"
FUNCTION = "opskit-dev-scheduler"
IDS = ["i-0123456789abcdef0", "i-0fedcba9876543210"]


@pytest.fixture(scope="module")
def cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("opskit_invoke_cli", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lam() -> Any:
    return boto3.client("lambda", region_name="eu-central-1")


def body(data: Any) -> StreamingBody:
    raw = json.dumps(data).encode() if not isinstance(data, bytes) else data
    return StreamingBody(io.BytesIO(raw), len(raw))


def run(cli: ModuleType, argv: list[str], client: Any) -> tuple[int, str, str, list[dict[str, Any]]]:
    """Run main() with the stubbed client; returns (exit code, stdout, stderr, the Invoke requests sent)."""
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, client_factory=lambda region: client, out=out, err=err)
    return code, out.getvalue(), err.getvalue(), sent


def _never(region: str | None) -> Any:
    raise AssertionError("no AWS client may be created for invalid arguments")


def test_sends_the_scheduler_manual_payload_synchronously_and_prints_the_result(cli, lam):
    function_result = {"action": "start", "started": IDS, "failed": []}
    with Stubber(lam) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": body(function_result)},
            {"FunctionName": FUNCTION, "InvocationType": "RequestResponse", "Payload": ANY},
        )
        code, out, err, sent = run(cli, ["--action", "start", "--function", FUNCTION, *IDS], lam)
        stub.assert_no_pending_responses()

    assert code == 0, err
    assert json.loads(sent[0]["Payload"]) == {"action": "start", "instance_ids": IDS}
    assert json.loads(out) == function_result


def test_repeated_ids_are_sent_once_in_order(cli, lam):
    with Stubber(lam) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": body({})})
        code, _, _, sent = run(cli, ["--action", "stop", "--function", FUNCTION, IDS[1], IDS[0], IDS[1]], lam)

    assert code == 0
    assert json.loads(sent[0]["Payload"])["instance_ids"] == [IDS[1], IDS[0]]


def test_region_is_passed_to_the_client(cli, lam):
    regions: list[str | None] = []

    def factory(region: str | None) -> Any:
        regions.append(region)
        return lam

    with Stubber(lam) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": body({})})
        argv = ["--region", "eu-west-1", "--action", "stop", "--function", FUNCTION, IDS[0]]
        code = cli.main(argv, client_factory=factory, out=io.StringIO(), err=io.StringIO())

    assert (code, regions) == (0, ["eu-west-1"])


def test_function_error_prints_the_error_and_exits_1(cli, lam):
    error = {"errorType": "PartialFailure", "errorMessage": "1 of 2 instances failed to stop", "stackTrace": []}
    with Stubber(lam) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body(error)})
        code, out, err, _ = run(cli, ["--action", "stop", "--function", FUNCTION, IDS[0]], lam)

    assert code == 1
    assert json.loads(out) == error
    assert "PartialFailure: 1 of 2 instances failed to stop" in err and "Unhandled" in err


def test_api_error_is_reported_and_exits_1(cli, lam):
    with Stubber(lam) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found: opskit-dev-scheduler", 404)
        code, out, err, _ = run(cli, ["--action", "stop", "--function", FUNCTION, IDS[0]], lam)

    assert code == 1
    assert out == ""
    assert "ResourceNotFoundException" in err and FUNCTION in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--action", "reboot", "--function", FUNCTION, IDS[0]], "--action must be start or stop, got 'reboot'"),
        (["--action", "", "--function", FUNCTION, IDS[0]], "--action must be start or stop, got ''"),
        (["--action", "stop", "--function", FUNCTION], "no instance ids given"),
        (["--action", "stop", "--function", FUNCTION, "i-123"], "not EC2 instance ids"),
        (["--action", "stop", "--function", FUNCTION, IDS[0], "I-0123456789ABCDEF0"], "I-0123456789ABCDEF0"),
        (["--action", "stop", "--function", FUNCTION, "i-0123456789abcdef0123"], "i-0123456789abcdef0123"),
        # Between 8 and 17 digits is neither id form, and the scheduler would refuse the whole request.
        (["--action", "stop", "--function", FUNCTION, "i-012345678"], "i-012345678"),
        (["--action", "stop", "--function", FUNCTION, "i-0123456789abcdef"], "i-0123456789abcdef"),
        (["--action", "stop", "--function", FUNCTION, "i-0123456"], "8 or 17 lower-case hex digits"),
        (["--action", "stop", "--function", "opskit dev", IDS[0]], "not a Lambda function name"),
        # Whole-string checks: `re.match("...$")` let a trailing newline through, and the scheduler refuses it.
        (["--action", "stop", "--function", FUNCTION, IDS[0], "i-0123456789abcdef0\n"], "'i-0123456789abcdef0\\n'"),
        (["--action", "stop", "--function", FUNCTION, "i-0123abcd\n"], "not EC2 instance ids"),
        (["--action", "stop", "--function", FUNCTION + "\n", IDS[0]], "not a Lambda function name"),
        (["--action", "stop", "--function", FUNCTION, *(f"i-{n:017x}" for n in range(1001))], "at most 1000"),
        (["--function", FUNCTION, IDS[0]], "--action"),
    ],
)
def test_bad_arguments_exit_2_before_any_aws_call(cli, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv, client_factory=_never)

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("instance_id", ["i-0123abcd", "i-0123456789abcdef0"])
def test_both_instance_id_forms_are_accepted(cli, instance_id):
    assert cli.parse_args(["--action", "stop", "--function", FUNCTION, instance_id]).instance_ids == [instance_id]


def test_ids_are_checked_exactly_as_the_scheduler_checks_them(cli, load_handler):
    """Anything invoke.py lets through, the scheduler's manual form must accept, and vice versa."""
    scheduler = load_handler("scheduler")
    candidates = []
    for digits in range(1, 21):
        instance_id = "i-" + ("0123456789abcdef" * 2)[:digits]
        candidates += [instance_id, instance_id + "\n", " " + instance_id, instance_id.upper()]
    for candidate in candidates:
        assert bool(cli.INSTANCE_ID.fullmatch(candidate)) == bool(scheduler._INSTANCE_ID.fullmatch(candidate)), (
            candidate
        )
    assert sum(bool(cli.INSTANCE_ID.fullmatch(c)) for c in candidates) == 2  # the 8- and the 17-digit form
    assert cli.MAX_IDS == scheduler.MAX_INSTANCE_IDS


def test_a_pasted_file_of_bad_ids_is_reported_briefly(cli, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--action", "stop", "--function", FUNCTION, "x" * 100_000, *(["bad"] * 50)], client_factory=_never)
    err = capsys.readouterr().err
    assert "and 46 more" in err and len(err) < 1000


def test_function_arns_are_accepted(cli):
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:opskit-prod-scheduler:live"
    assert cli.parse_args(["--action", "start", "--function", arn, IDS[0]]).function == arn


def test_dry_run_prints_the_payload_without_a_client(cli, capsys):
    assert cli.main(["--dry-run", "--action", "stop", "--function", FUNCTION, IDS[0]], client_factory=_never) == 0
    assert json.loads(capsys.readouterr().out)["payload"] == {"action": "stop", "instance_ids": [IDS[0]]}


def test_script_runs_as_the_makefile_calls_it():
    """`make invoke` runs the file directly; a bad action must stop it with exit status 2."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--action", "restart", "--function", FUNCTION, IDS[0]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--action must be start or stop" in done.stderr


# --- --until (issue 13: overrides that expire) -------------------------------------------------------

NOW = "2026-12-01T09:00:00+00:00"


def test_until_is_sent_as_the_override_in_utc(cli, lam):
    with Stubber(lam) as stub, time_machine.travel(NOW, tick=False):
        stub.add_response("invoke", {"StatusCode": 200, "Payload": body({})})
        argv = ["--action", "start", "--function", FUNCTION, "--until", "2026-12-05T19:00:00+01:00", IDS[0]]
        code, _, err, sent = run(cli, argv, lam)

    assert code == 0, err
    assert json.loads(sent[0]["Payload"]) == {
        "action": "start",
        "instance_ids": [IDS[0]],
        "override_until": "2026-12-05T18:00:00Z",
    }


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2026-12-01T08:00:00Z", "is not in the future"),
        ("2027-03-01T09:00:01Z", "more than 90 days ahead"),
        ("2026-12-05T18:00:00", "has no time zone"),
        ("friday 18:00", "is not an ISO-8601 time"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("x" * 10_000, "is not an ISO-8601 time"),
    ],
)
def test_a_bad_until_exits_2_before_any_aws_call(cli, capsys, until, message):
    with time_machine.travel(NOW, tick=False), pytest.raises(SystemExit) as exit_:
        cli.main(["--action", "stop", "--function", FUNCTION, "--until", until, IDS[0]], client_factory=_never)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err) < 1000


def test_until_is_checked_exactly_as_the_scheduler_checks_it(cli, load_handler):
    """Whatever invoke.py lets through, the scheduler's manual form accepts, and the reverse."""
    scheduler = load_handler("scheduler")
    cfg = scheduler.Config.from_env({"SCHEDULE_NAMES": "[]"})
    candidates = [
        "2026-12-01T09:00:00Z", "2026-12-01T09:00:01Z", "2026-12-01T10:00:00+01:00", "2026-12-01T10:00:01+01:00",
        "2027-03-01T09:00:00Z", "2027-03-01T09:00:01Z", "2027-03-01T10:00:00+01:00", "2026-12-05T18:00:00z",
        "2026-12-05T18:00:00", "2026-12-05", "2026-12-05T18:00Z", "0001-01-01T00:00:00+01:00", "tomorrow",
    ]  # fmt: skip
    with time_machine.travel(NOW, tick=False):
        for until in candidates:
            try:
                cli.parse_args(["--action", "stop", "--function", FUNCTION, "--until", until, IDS[0]])
                local = True
            except SystemExit:
                local = False
            try:
                scheduler.parse({"action": "stop", "instance_ids": [IDS[0]], "override_until": until}, cfg)
                remote = True
            except scheduler.common.InputError:
                remote = False
            assert local == remote, until
    assert cli.MAX_OVERRIDE_DAYS == scheduler.MAX_OVERRIDE_DAYS
