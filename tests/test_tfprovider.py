"""The schema-only provider serves just the types a tree names, and the gate finds every one of them."""

from __future__ import annotations

from pathlib import Path

from opskit_tools import tfgate, tfprovider

SPEC = {"arguments": {"name": {"type": "string", "required": True}, "tags": {"type": "map(string)"}}}
DATA = {
    "provider": {"aws": {"arguments": {"region": {"type": "string"}}}},
    "resources": {"aws_sqs_queue": SPEC, "aws_s3_bucket": SPEC, "archive_file": SPEC},
    "data_sources": {"aws_iam_policy_document": SPEC, "aws_region": SPEC},
}


def test_named_types_reads_configurations_checks_tests_and_mocks(tmp_path: Path) -> None:
    (tmp_path / "modules" / "m" / "tests").mkdir(parents=True)
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "q" {\n  name = "q"\n}\n\ncheck "c" {\n  data "aws_region" "here" {}\n}\n'
        '# resource "aws_commented_out" "x" {}\nlocals {\n  text = "resource \\"aws_in_a_string\\" x"\n}\n'
    )
    (tmp_path / "modules" / "m" / "tests" / "a.tftest.hcl").write_text(
        'mock_provider "aws" {\n  mock_resource "aws_s3_bucket" {\n    defaults = {}\n  }\n'
        '  mock_data "aws_iam_policy_document" {\n    defaults = {}\n  }\n}\n'
    )
    assert tfgate.named_types(tmp_path) == {"aws_sqs_queue", "aws_region", "aws_s3_bucket", "aws_iam_policy_document"}


def test_only_the_listed_types_are_served() -> None:
    whole = tfprovider.provider_schema("aws", DATA)
    assert set(whole.resource_schemas) == {"aws_sqs_queue", "aws_s3_bucket"}  # archive_file is the archive's
    assert set(whole.data_source_schemas) == {"aws_iam_policy_document", "aws_region"}

    some = tfprovider.provider_schema("aws", DATA, frozenset({"aws_sqs_queue", "aws_region", "aws_not_there"}))
    assert set(some.resource_schemas) == {"aws_sqs_queue"}
    assert set(some.data_source_schemas) == {"aws_region"}
    assert some.resource_schemas["aws_sqs_queue"] == whole.resource_schemas["aws_sqs_queue"]
