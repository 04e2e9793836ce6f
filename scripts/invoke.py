#!/usr/bin/env python3
"""Start or stop EC2 instances now, through a deployed opskit function (the scheduler by default).

    make invoke ACTION=stop IDS="i-0123456789abcdef0 i-0fedcba9876543210"           # opskit-dev-scheduler
    make invoke ENV=prod ACTION=start IDS="i-0123456789abcdef0" UNTIL=2026-12-05T18:00:00Z
    python scripts/invoke.py --action start --function opskit-dev-scheduler --until 2026-12-05T18:00Z i-0123abcd

Sends the scheduler's manual payload `{"action": "start"|"stop", "instance_ids": [...]}` (with --until also
`"override_until"`: the instances are tagged opskit:override=running|stopped@<until> and their schedule leaves
them alone until then) as a synchronous (RequestResponse) invocation and prints the function's JSON result.
The arguments are checked before anything is sent (--until: ISO-8601 with Z or an offset, in the future,
at most 90 days ahead). Exit status: 0 on success, 1 when the function raised (FunctionError) or the call
failed, 2 on bad arguments. The scheduler only touches instances that carry its schedule tag with a
configured schedule name (its IAM grant is conditioned on that), so tag every listed instance first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

ACTIONS = ("start", "stop")
# Whole-string patterns: use them with `fullmatch` only (`re.match("...$")` accepts a trailing newline).
# The scheduler accepts exactly these two forms: the old 8-digit ids and the current 17-digit ones
# (functions/_shared/opskit_common.py `id_pattern("i")`), at most MAX_IDS per request.
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
MAX_IDS = 1000
MAX_OVERRIDE_DAYS = 90  # the scheduler refuses an override_until further ahead (or in the past)
# A function name, a partial ARN (account:function:name) or a full ARN, optionally with :version/:alias.
FUNCTION = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?"
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="invoke.py",
        description="Start or stop EC2 instances now through a deployed opskit function.",
    )
    parser.add_argument("--action", required=True, help="start or stop")
    parser.add_argument("--function", required=True, help="function name or ARN, e.g. opskit-dev-scheduler")
    parser.add_argument("--region", help="AWS region (default: the AWS CLI/SDK configuration)")
    parser.add_argument(
        "--until",
        help="keep the instances started/stopped until this ISO-8601 time (Z or offset, at most 90 days ahead)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the payload instead of invoking")
    parser.add_argument("instance_ids", nargs="*", metavar="INSTANCE_ID", help="i-0123456789abcdef0 ...")
    args = parser.parse_args(argv)

    if args.action not in ACTIONS:
        parser.error(f"--action must be start or stop, got {_clip(args.action)}")
    if not FUNCTION.fullmatch(args.function):
        parser.error(f"--function {_clip(args.function)} is not a Lambda function name or ARN")
    if not args.instance_ids:
        parser.error('no instance ids given: make invoke ACTION=stop IDS="i-0123456789abcdef0 ..."')
    bad = [i for i in args.instance_ids if not INSTANCE_ID.fullmatch(i)]
    if bad:
        shown = ", ".join(_clip(i) for i in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        parser.error(f"not EC2 instance ids (expected i- and exactly 8 or 17 lower-case hex digits): {shown}")
    args.instance_ids = list(dict.fromkeys(args.instance_ids))  # drop repeats, keep order
    if len(args.instance_ids) > MAX_IDS:
        parser.error(f"{len(args.instance_ids)} instance ids given; the scheduler takes at most {MAX_IDS} per run")
    if args.until is not None:
        args.until = _until(parser, args.until, dt.datetime.now(dt.UTC))
    return args


def _until(parser: argparse.ArgumentParser, text: str, now: dt.datetime) -> str:
    """--until as the UTC text the scheduler writes into the override tag, after the scheduler's own checks."""
    try:
        value = text.strip()
        until = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except (ValueError, OverflowError):
        parser.error(f"--until {_clip(text)} is not an ISO-8601 time such as 2026-12-05T18:00:00Z")
    if until.tzinfo is None:
        parser.error(f"--until {_clip(text)} has no time zone: add Z or an offset such as +01:00")
    try:
        until = until.astimezone(dt.UTC).replace(microsecond=0)
    except OverflowError:
        parser.error(f"--until {_clip(text)} is out of range")
    if until <= now:
        parser.error(f"--until {_clip(text)} is not in the future")
    if until > now + dt.timedelta(days=MAX_OVERRIDE_DAYS):
        parser.error(f"--until {_clip(text)} is more than {MAX_OVERRIDE_DAYS} days ahead")
    return until.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(value: str, limit: int = 80) -> str:
    """repr() of an argument, cut to `limit` characters (a pasted file must not flood the terminal)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def payload(action: str, instance_ids: Sequence[str], until: str | None = None) -> dict[str, Any]:
    """The scheduler's manual form."""
    body: dict[str, Any] = {"action": action, "instance_ids": list(instance_ids)}
    if until is not None:
        body["override_until"] = until
    return body


def lambda_client(region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # A synchronous invocation may run up to the function's 15-minute limit, and an invoke must not be
    # re-sent by the SDK behind the caller's back: a long read timeout and no automatic retries.
    config = Config(read_timeout=910, connect_timeout=10, retries={"total_max_attempts": 1})
    return boto3.client("lambda", region_name=region, config=config)


def main(
    argv: Sequence[str] | None = None,
    client_factory: Callable[[str | None], Any] = lambda_client,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = parse_args(argv)
    body = payload(args.action, args.instance_ids, args.until)
    if args.dry_run:
        print(json.dumps({"function": args.function, "payload": body}, indent=2), file=out)
        return 0

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client_factory(args.region).invoke(
            FunctionName=args.function,
            InvocationType="RequestResponse",
            Payload=json.dumps(body).encode("utf-8"),
        )
        raw = response["Payload"].read()
    except (ClientError, BotoCoreError) as exc:
        print(f"invoke.py: could not invoke {args.function}: {exc}", file=err)
        return 1

    try:
        result: Any = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        result = raw.decode("utf-8", "replace")
    print(json.dumps(result, indent=2, default=str), file=out)

    if "FunctionError" in response:
        detail = result if isinstance(result, dict) else {}
        print(
            f"invoke.py: {args.function} failed ({response['FunctionError']}): "
            f"{detail.get('errorType', 'error')}: {detail.get('errorMessage', result)}",
            file=err,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
