"""Secret headers: a Secrets Manager secret or an SSM SecureString parameter holding a JSON object of headers,
read once per run and distinct ARN. Error messages name the ARN and the problem, never the content."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import opskit_common as common
from hc_fields import HEADER_NAME, SECRET_ARN, header_value_ok, printable
from hc_targets import Target

# botocore logs response bodies at DEBUG, and GetSecretValue's body is the headers secret: keep it out of the
# function's log whatever log level is configured.
logging.getLogger("botocore").setLevel(logging.INFO)


class SecretHeadersError(Exception):
    """The headers secret could not be read or is not a JSON object of header strings."""


def read_secret_headers(arn: str) -> dict[str, str]:
    """Headers from a Secrets Manager secret or an SSM SecureString parameter holding a JSON object.
    Error messages name the ARN and the problem, never the content."""
    try:
        if SECRET_ARN.fullmatch(arn):
            raw = common.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString")
        else:
            raw = common.client("ssm").get_parameter(Name=arn, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:  # botocore ClientError, endpoint errors: the target fails, the others run
        error = getattr(exc, "response", None)
        code = error.get("Error", {}).get("Code") if isinstance(error, dict) else None
        raise SecretHeadersError(
            f"could not read headers secret {arn}: {common.clip(code or type(exc).__name__)}"
        ) from None
    try:
        headers = common.loads_json(raw, "headers secret", max_length=65536)
    except common.InputError:  # its message would quote the content
        raise SecretHeadersError(f"headers secret {arn} is not JSON (or too large or deeply nested)") from None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise SecretHeadersError(f"headers secret {arn} must be a JSON object of header name to string value")
    for key, value in headers.items():
        if not HEADER_NAME.fullmatch(key) or not header_value_ok(value):
            raise SecretHeadersError(f"headers secret {arn}: header {printable(key)!r} has an invalid name or value")
    return headers


def load_secrets(targets: Iterable[Target]) -> dict[str, dict[str, str] | SecretHeadersError]:
    """Each distinct headers_secret_arn read once per run (rotation is picked up on the next run)."""
    loaded: dict[str, dict[str, str] | SecretHeadersError] = {}
    for arn in dict.fromkeys(t.headers_secret_arn for t in targets if t.headers_secret_arn):
        try:
            loaded[arn] = read_secret_headers(arn)
        except SecretHeadersError as exc:
            loaded[arn] = exc
    return loaded
