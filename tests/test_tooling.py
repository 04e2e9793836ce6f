"""The shared test/validation tooling: event-pattern matcher, template renderer, sample rendering."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from opskit_tools import checks, eventpattern, tftemplate

EVENT = {
    "source": "aws.ec2",
    "detail-type": "AWS API Call via CloudTrail",
    "detail": {"eventName": "RunInstances", "items": ["a", "b"], "count": 5, "user": "Alice"},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"detail": {"eventName": [{"prefix": "Run"}]}}, True),
        ({"detail": {"eventName": [{"suffix": "Volumes"}]}}, False),
        ({"detail": {"errorCode": [{"exists": False}]}}, True),
        ({"detail": {"eventName": [{"exists": False}]}}, False),
        ({"detail": {"items": ["b"]}}, True),
        ({"detail": {"count": [{"numeric": [">", 1, "<=", 5]}]}}, True),
        ({"detail": {"count": [{"numeric": [">", 5]}]}}, False),
        ({"detail": {"user": [{"equals-ignore-case": "alice"}]}}, True),
        ({"detail": {"user": [{"anything-but": ["Alice"]}]}}, False),
        ({"detail": {"user": [{"anything-but": {"prefix": "Bob"}}]}}, True),
        ({"detail": {"eventName": [{"wildcard": "Run*ces"}]}}, True),
        ({"$or": [{"source": ["aws.s3"]}, {"detail": {"count": [5]}}]}, True),
        ({"detail": {"count": ["5"]}}, False),  # types matter
    ],
)
def test_matcher_operators(pattern: dict, expected: bool) -> None:
    assert eventpattern.matches(pattern, EVENT) is expected


def test_matcher_agrees_with_eventbridge_routing_in_moto() -> None:
    """Cross-check on the operators moto's rule engine implements: route put_events through a rule."""
    pattern = {"source": ["aws.ec2"], "detail": {"eventName": ["RunInstances"], "errorCode": [{"exists": False}]}}
    events = [
        dict(EVENT),
        {**EVENT, "detail": {**EVENT["detail"], "errorCode": "Client.UnauthorizedOperation"}},
        {**EVENT, "detail": {**EVENT["detail"], "eventName": "StopInstances"}},
    ]
    with mock_aws():
        sqs, bus = boto3.client("sqs"), boto3.client("events")
        url = sqs.create_queue(QueueName="routed")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus.put_rule(Name="r", EventPattern=json.dumps(pattern))
        bus.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        routed = []
        for event in events:
            bus.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                    }
                ]
            )
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            routed.append(bool(messages))
    assert routed == [eventpattern.matches(pattern, e) for e in events] == [True, False, False]


def test_pattern_problems_are_reported() -> None:
    assert eventpattern.problems({"source": ["aws.ec2"]}) == []
    assert eventpattern.problems({"source": "aws.ec2"}) == ["source: values must be arrays (or objects), got 'aws.ec2'"]
    assert eventpattern.problems({"detail": {"x": []}}) == ["detail.x: an empty array matches nothing"]
    assert eventpattern.problems({"x": [{"prefx": "a"}]}) == ["x: unknown matcher ['prefx']"]


def test_template_renderer_matches_terraform_syntax() -> None:
    text = '{"names": ${jsonencode(names)}, "wait": ${seconds}, "arn": "${topic}", "literal": "$${keep}"}'
    rendered = tftemplate.render(text, {"names": ["a", "b"], "seconds": 15, "topic": "arn:aws:sns:x"})
    assert json.loads(rendered) == {"names": ["a", "b"], "wait": 15, "arn": "arn:aws:sns:x", "literal": "${keep}"}
    with pytest.raises(KeyError, match="'missing'"):
        tftemplate.render("${missing}", {})
    with pytest.raises(ValueError, match="unsupported template expression"):
        tftemplate.render("${upper(x)}", {"x": "a"})


def test_sample_rendering_keeps_templates_parseable() -> None:
    text = '{"a": ${jsonencode(names)}, "b": "prefix-${name}", "c": ${seconds}, "d": "\\"${x}\\""}'
    as_pattern = json.loads(checks.render_sample(text, list_values=True))
    as_asl = json.loads(checks.render_sample(text, list_values=False))
    assert as_pattern == {"a": ["opskit-sample"], "b": "prefix-opskit-sample", "c": 1, "d": '"opskit-sample"'}
    assert as_asl["a"] == "opskit-sample"


def test_statelint_findings_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "modules" / "demo"
    module.mkdir(parents=True)
    (module / "bad.asl.json").write_text(json.dumps({"StartAt": "Missing", "States": {"A": {"Type": "Succeed"}}}))
    (module / "good.asl.json").write_text(
        '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": ${wait}, "Next": "D"}, "D": {"Type": "Succeed"}}}'
    )
    monkeypatch.setattr(checks, "REPO", tmp_path)
    outcome = checks.check_state_machines()
    assert outcome.findings
    assert all(
        f.startswith(str(module / "bad.asl.json")) or f.startswith("modules/demo/bad.asl.json")
        for f in outcome.findings
    )
    assert any("Missing" in f for f in outcome.findings)
