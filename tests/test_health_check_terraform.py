"""modules/health-check against the handler, and the native suite (modules/health-check/tests) against the rules.

The module's own behaviour (alarms, topic, key, IAM statements, every validation and precondition) is tested
natively by `terraform test`. What stays here needs Python on the other side:

- the target fields, defaults and metric names the module renders are the ones the handler reads and writes,
  and the patterns both sides apply are spelled alike;
- each refusing native run breaks exactly one validation rule of each variable it expects to fail and no
  other rule (runs batch distinct variables), every rule has such a run, and every validated input is set in a
  passing run.

test_health_check_cases.py holds the table of values the module and the handler must judge alike.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hcl2
from opskit_tools import hcl
from test_health_check_tfsupport import (
    MODULE,
    broken_rules,
    copy_name,
    load,
    optional_fields,
    terraform_calls,
    validation_rules,
    variable,
)

# --- what the module renders is what the handler reads ------------------------------------------------------


def test_target_fields_match_the_handler(load_handler: Callable[[str], Any]) -> None:
    handler = load_handler("health_check")
    fields = set(optional_fields(variable("targets")["type"]))
    assert "maintenance" in fields and "cron" not in fields  # top-level fields only
    assert fields | {"name"} == set(handler.TARGET_FIELDS)


def test_defaults_left_out_of_targets_json_are_the_handlers_defaults(load_handler: Callable[[str], Any]) -> None:
    """targets.tf drops fields equal to target_defaults from TARGETS; the handler must fill in the same values,
    and the variable's optional() defaults must be those values too."""
    handler = load_handler("health_check")
    locals_ = {k: v for entry in load("targets.tf")["locals"] for k, v in entry.items()}
    omitted = {k: json.loads(v) for k, v in locals_["target_defaults"].items()}
    parsed = handler.parse_target({"name": "n", "url": "https://x.test"}, "t")
    assert omitted == {
        "kind": parsed.kind,
        "method": parsed.method,
        "headers": dict(parsed.headers),
        "expected_status": list(parsed.expected_status),
        "timeout_seconds": parsed.timeout_seconds,
        "follow_redirects": parsed.follow_redirects,
        "tls": parsed.tls,
        "maintenance": list(parsed.maintenance),
        "depends_on": list(parsed.depends_on),
    }
    types = optional_fields(variable("targets")["type"])
    for field, value in omitted.items():
        match = re.fullmatch(r"optional\((.+), (.+)\)", types[field])
        assert match, field
        assert json.loads(match.group(2).replace("'", '"')) == value, field
    # The windows' own default time zone is left out as well, and the handler reads it back as UTC.
    window_type = optional_fields(types["maintenance"])
    assert window_type["timezone"] == 'optional(string, "UTC")'
    assert '"UTC" ? []' in (MODULE / "targets.tf").read_text(encoding="utf-8")
    window = handler.parse_target(
        {"name": "n", "url": "https://x.test", "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5}]}, "t"
    ).maintenance[0]
    assert window.timezone == "UTC"


def test_alarm_watches_what_the_handler_emits(load_handler: Callable[[str], Any], capsys: Any) -> None:
    """The alarm reads the metric Failed (dimension Target, plus Region across regions) that report() writes."""
    handler = load_handler("health_check")
    alarm = hcl.blocks(MODULE, "resource", "aws_cloudwatch_metric_alarm")["target"]
    (query,) = alarm["dynamic"][0]["metric_query"]["content"]
    (metric,) = query["metric"]
    handler.report(handler.Result(name="shop", url="https://shop.test", ok=False, status=500, latency_ms=5), "ns")
    document = json.loads(capsys.readouterr().out.splitlines()[0])
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert metric["metric_name"] == "Failed" and metric["stat"] == "Maximum"
    assert metric["metric_name"] in [m["Name"] for m in directive["Metrics"]] and document["Failed"] == 1
    assert directive["Dimensions"] == [["Target"]]
    assert "Target = each.key, Region = metric_query.value" in metric["dimensions"]


def test_async_retries_and_schedule_passed_to_lambda_function() -> None:
    """What the module hands to modules/lambda-function (not visible to a native test of this module): no
    asynchronous retries (a failed check must not count three times), no DLQ, the schedule rule."""
    function = hcl.load_unquoted(MODULE / "main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 0
    assert function["create_dlq"] is False
    assert function["event_rules"] == "${local.event_rules}"  # asserted natively (tests/notices.tftest.hcl)
    assert function["environment"] == "${local.environment}"
    assert function["create_alarms"] == "${local.function_alarms}"
    assert set(function["policy_documents"].split("runtime = data.aws_iam_policy_document.runtime[0].json")) != {
        function["policy_documents"]
    }


def test_shared_patterns_and_limits_are_the_handlers(load_handler: Callable[[str], Any]) -> None:
    """The rules both sides implement are spelled the same way on both sides."""
    handler = load_handler("health_check")
    text = (MODULE / "targets.tf").read_text(encoding="utf-8")
    assert f'"{handler.CREDENTIAL_HEADER.pattern}"' in text
    assert f'"^{handler.HEADER_NAME.pattern}$"' in text
    assert f'"^{handler.TARGET_NAME.pattern}$"' in text
    assert f"t.max_latency_ms <= {handler.MAX_LATENCY_MS}" in text
    assert f"t.min_cert_days <= {handler.MAX_CERT_DAYS}" in text
    assert f"t.timeout_seconds <= {handler.MAX_TIMEOUT_SECONDS}" in text


def test_new_shared_patterns_are_the_handlers(load_handler: Callable[[str], Any]) -> None:
    """Cron, host, address, JSON pointer, time zone and objective rules: the same text on both sides."""
    load_handler("health_check")
    import hc_config
    import hc_fields
    import hc_windows

    text = (MODULE / "targets.tf").read_text(encoding="utf-8") + (MODULE / "variables.tf").read_text(encoding="utf-8")

    def hcl_string(pattern: str) -> str:
        return pattern.replace("\\", "\\\\")

    for pattern in (
        hc_windows.CRON,
        hc_fields.HOSTNAME,
        hc_fields.IPV4_OR_CIDR,
        hc_fields.IPV6_OR_CIDR,
        hc_fields.IPV6,
        hc_fields.JSON_POINTER,
    ):
        assert f'"^{hcl_string(pattern.pattern)}$"' in text, pattern.pattern
    assert f'"^({hc_windows.ZONE.pattern})$"' in text
    assert f'"^{hcl_string(hc_config.OBJECTIVE.pattern)}$"' in text
    assert f"w.duration_minutes <= {hc_windows.MAX_DURATION_MINUTES}" in text
    assert f"length(t.maintenance) <= {hc_windows.MAX_WINDOWS}" in text
    assert f"length(t.host) <= {hc_fields.MAX_HOST_LENGTH}" in text
    assert f"length(t.expected_addresses) <= {hc_fields.MAX_ADDRESSES}" in text


# --- the native suite refuses each rule with a value breaking only that rule -------------------------------


def native_runs() -> list[tuple[str, dict[str, Any], list[str]]]:
    """(file:run, merged variables, expect_failures) of every run in modules/health-check/tests."""
    runs = []
    for path in sorted((MODULE / "tests").glob("*.tftest.hcl")):
        document = hcl2.loads(path.read_text(encoding="utf-8"))
        shared = {k: v for block in document.get("variables", []) for k, v in block.items() if k != "__is_block__"}
        for entry in document.get("run", []):
            for label, body in entry.items():
                own = {k: v for b in body.get("variables", []) for k, v in b.items() if k != "__is_block__"}
                expected = [e.strip("${}") for e in body.get("expect_failures", [])]
                runs.append((f"{path.name}:{hcl.unquote(label)}", {**shared, **own}, expected))
    return runs


def test_each_refusing_native_run_breaks_exactly_one_rule_and_every_rule_has_one(tmp_path: Path) -> None:
    """Terraform cannot say which rule an expected failure came from; a plan over the module's variables can.
    A refusing run may batch several variables (expect_failures = [var.a, var.b, ...]): it must break exactly
    one rule of each listed variable and nothing else, i.e. the variables of the broken rules, counted, are the
    listed ones, each listed once (two rules of one variable in a run, a rule of an unlisted variable or any
    other error fail).
    Runs expecting a precondition (data.aws_region.current) are outside variables.tf and not checked here."""
    runs = [r for r in native_runs() if not r[2] or all(e.startswith("var.") for e in r[2])]
    calls = {}
    for i, (_, variables, _) in enumerate(runs):
        body = hcl2.dumps({"module": [{'"x"': {**variables, "__is_block__": True}}]})
        calls[f"run_{i}"] = (copy_name(set(variables)), body[body.index("{") + 1 : body.rindex("}")])
    planned = terraform_calls(tmp_path, calls)
    rules = validation_rules()
    hit: set[int] = set()
    problems = []
    for i, (name, _, expected) in enumerate(runs):
        broken = broken_rules(planned[f"run_{i}"])
        hit.update(broken)
        if not expected and broken:
            problems.append(f"{name}: a passing run breaks rules at lines {broken}")
        if len(set(expected)) != len(expected):
            problems.append(f"{name}: a variable listed twice in {expected} (its rules cannot be told apart)")
        elif expected and Counter(f"var.{rules.get(line)}" for line in broken) != Counter(expected):
            problems.append(f"{name}: expected one rule of each of {expected} broken, got lines {broken}")
    problems += [
        f"variables.tf:{line} ({var}): no native run refuses it" for line, var in rules.items() if line not in hit
    ]
    set_by_passing_runs = {key for _, variables, expected in runs if not expected for key in variables}
    problems += [f"{var}: not set by a passing run" for var in set(rules.values()) - set_by_passing_runs]
    assert problems == []
