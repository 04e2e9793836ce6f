"""owner-tagger, part 1: one canonical owner from a CloudTrail `userIdentity` (no AWS calls).

IAM users, root, federated users, role sessions (Identity Center sessions resolve to the person),
`IdentityCenterUser` records and AWS services; callers from another account are prefixed with their
account id; a call made by another account on the customer's behalf (`invokedByDelegate`) names that
account in CreatedBy. `created_via` tells how the call was made (console, CloudFormation, Terraform, CLI,
an SDK, an AWS service). Values are mapped onto the characters tag values allow and cut to tag length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_TAG_VALUE = 256
# Characters every AWS tagging API accepts besides letters, digits and spaces.
TAG_PUNCTUATION = frozenset("+-=._:/@")


@dataclass(frozen=True)
class Caller:
    owner: str  # the Owner tag value (sanitised)
    principal: str  # the CreatedBy tag value: the caller's ARN where CloudTrail records one
    service: str | None  # set when an AWS service launched on its own (e.g. autoscaling.amazonaws.com)
    delegate: str | None = None  # the account of userIdentity.invokedByDelegate, when another account acted


def sanitise(value: str, limit: int = MAX_TAG_VALUE) -> str:
    """Map `value` onto the characters tag values allow (letters, digits, spaces, + - = . _ : / @) and cut
    it to `limit` characters. Other characters become `_`, other whitespace a space. Decomposed accents
    (e + combining acute) are composed first, so `José` stays `José` whatever form the identity provider sent."""
    cleaned = "".join(
        c if (c.isalnum() or c == " " or c in TAG_PUNCTUATION) else (" " if c.isspace() else "_")
        for c in unicodedata.normalize("NFC", value)
    ).strip()
    return cleaned[:limit]


def sanitise_arn(value: str, limit: int = MAX_TAG_VALUE) -> str:
    """Like `sanitise`, but an over-long value keeps its beginning (partition, account) and its end (the
    user or session name) around a `...` in the middle."""
    cleaned = sanitise(value, limit=len(value))
    if len(cleaned) <= limit:
        return cleaned
    head = 100
    return f"{cleaned[:head]}...{cleaned[-(limit - head - 3) :]}"


def _submapping(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _last_segment(arn: str | None) -> str | None:
    """`arn:aws:sts::1:assumed-role/Role/session` → `session`; `arn:aws:iam::1:user/path/alice` → `alice`."""
    if not arn or "/" not in arn:
        return None
    return arn.rsplit("/", 1)[1].strip() or None


def _after_colon(principal_id: str | None) -> str | None:
    """`AROAEXAMPLE:session` → `session` (principalId of role sessions and federated users)."""
    if not principal_id or ":" not in principal_id:
        return None
    return principal_id.split(":", 1)[1].strip() or None


def _is_service_identity(identity: Mapping[str, Any]) -> bool:
    """An AWS service acting on its own: type AWSService, or a session of a service-linked role
    (`AWSServiceRoleForAutoScaling` under the `aws-service-role/` path). A person's own credentials used
    through a service (CloudFormation forward access sessions also carry `invokedBy`) are not."""
    if identity.get("type") == "AWSService":
        return True
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    if not isinstance(issuer, Mapping):
        return False
    return ":role/aws-service-role/" in str(issuer.get("arn") or "") or str(issuer.get("userName") or "").startswith(
        "AWSServiceRoleFor"
    )


def _person_name(identity: Mapping[str, Any]) -> str | None:
    kind = identity.get("type")
    arn = _text(identity, "arn")
    if kind == "Root":
        return "root"
    if kind == "IAMUser":
        return _text(identity, "userName") or _last_segment(arn)
    if kind == "FederatedUser":
        return _last_segment(arn) or _after_colon(_text(identity, "principalId")) or _text(identity, "userName")
    if kind == "AssumedRole":
        context = _submapping(identity, "sessionContext")
        # sourceIdentity is set once by the person who assumed the role and survives role chaining.
        return (
            _text(context, "sourceIdentity")
            or _last_segment(arn)
            or _after_colon(_text(identity, "principalId"))
            or _text(identity, "userName")
        )
    if kind == "IdentityCenterUser":
        on_behalf_of = _submapping(identity, "onBehalfOf")
        return _text(identity, "userName") or _text(on_behalf_of, "userId")
    if kind == "AWSService":
        return _text(identity, "invokedBy")
    # SAMLUser, WebIdentityUser, AWSAccount, Directory, Unknown: the best name the record offers.
    return (
        _text(identity, "userName")
        or _last_segment(arn)
        or _after_colon(_text(identity, "principalId"))
        or _text(identity, "principalId")
        or _text(identity, "accountId")
    )


def _principal(identity: Mapping[str, Any]) -> str | None:
    arn = _text(identity, "arn")
    if arn:
        return arn
    kind = identity.get("type") or "Unknown"
    if kind == "IdentityCenterUser":
        on_behalf_of = _submapping(identity, "onBehalfOf")
        store = _last_segment(_text(on_behalf_of, "identityStoreArn"))
        user = _text(on_behalf_of, "userId")
        return "/".join(p for p in (kind, store, user) if p) if user else None
    name = _text(identity, "invokedBy") or _text(identity, "userName") or _text(identity, "principalId")
    return f"{kind}/{name}" if name else None


def resolve_caller(identity: Mapping[str, Any], event_account: str | None) -> Caller | None:
    """The canonical owner of what `identity` created, or None when the record names nobody.

    Never assumes `arn` exists (Identity Center users and AWS services have none)."""
    invoked_by = _text(identity, "invokedBy")
    service = invoked_by if invoked_by and _is_service_identity(identity) else None
    if service:
        owner = service
    else:
        name = _person_name(identity)
        if not name:
            return None
        caller_account = _text(identity, "accountId")
        if caller_account and event_account and caller_account != event_account:
            name = f"{caller_account}:{name}"
        owner = name
    owner = sanitise(owner)
    principal = _principal(identity) or owner
    if not owner:
        return None
    delegate = _delegate(identity)
    if delegate:
        principal = f"{principal} delegate:{delegate}"
    return Caller(owner=owner, principal=sanitise_arn(principal), service=service, delegate=delegate)


_ACCOUNT = re.compile(r"\d{12}")


def _delegate(identity: Mapping[str, Any]) -> str | None:
    """`userIdentity.invokedByDelegate.accountId`: the account that made the call on the customer's behalf."""
    account = _text(_submapping(identity, "invokedByDelegate"), "accountId")
    return account if account and _ACCOUNT.fullmatch(account) else None


# --- how the call was made -------------------------------------------------------------------------

CONSOLE_AGENTS = ("console.amazonaws.com", "signin.amazonaws.com")
# userAgent markers, checked in order (Terraform and the CLI also name the SDK they are built on).
AGENT_MARKERS: tuple[tuple[str, str], ...] = (
    ("terraform", "terraform"),
    ("aws-cli/", "cli"),
    ("aws-sdk-java", "sdk-java"),
    ("aws-sdk-go", "sdk-go"),
    ("aws-sdk-js", "sdk-javascript"),
    ("aws-sdk-nodejs", "sdk-javascript"),
    ("aws-sdk-dotnet", "sdk-dotnet"),
    ("aws-sdk-ruby", "sdk-ruby"),
    ("aws-sdk-php", "sdk-php"),
    ("aws-sdk-rust", "sdk-rust"),
    ("aws-sdk-cpp", "sdk-cpp"),
    ("aws-sdk-kotlin", "sdk-kotlin"),
    ("aws-sdk-swift", "sdk-swift"),
    ("boto3/", "sdk-python"),
    ("botocore/", "sdk-python"),
)
CLOUDFORMATION = "cloudformation.amazonaws.com"


def _service_name(host: str) -> str:
    return host.removesuffix(".amazonaws.com") or host


def created_via(detail: Mapping[str, Any], caller: Caller, stack: str | None) -> str | None:
    """`console`, `cloudformation:<stack>`, `terraform`, `cli`, `sdk-<language>` or `aws-service:<service>`
    from the record's userAgent, invokedBy and session context; None when the record does not tell."""
    identity = _submapping(detail, "userIdentity")
    agent = _text(detail, "userAgent") or ""
    invoked_by = _text(identity, "invokedBy") or ""
    if CLOUDFORMATION in (agent, invoked_by):
        return sanitise(f"cloudformation:{stack}" if stack else "cloudformation")
    if caller.service:
        return sanitise(f"aws-service:{_service_name(caller.service)}")
    from_console = str(detail.get("sessionCredentialFromConsole", "")).lower() == "true"
    console_agent = agent.startswith(("console.", "Mozilla/")) or any(marker in agent for marker in CONSOLE_AGENTS)
    if from_console or console_agent or invoked_by == "signin.amazonaws.com":
        return "console"
    lowered = agent.lower()
    for marker, value in AGENT_MARKERS:
        if marker in lowered:
            return value
    if invoked_by.endswith(".amazonaws.com"):
        return sanitise(f"aws-service:{_service_name(invoked_by)}")
    if agent.endswith(".amazonaws.com") and " " not in agent:
        return sanitise(f"aws-service:{_service_name(agent)}")
    return None
