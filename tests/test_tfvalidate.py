"""The offline Terraform validator rejects planted errors with the right file, line and message, accepts valid
Terraform without noise (a small but complete tree, and the repository itself), and the vendored provider
schema covers every type the repository uses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from opskit_tools import tfschema, tfvalidate
from opskit_tools.paths import REPO

SCHEMA = tfschema.load_schema()

# A small, valid tree: a root module with an object-typed variable and tfvars, a feature module calling a
# lambda-function module, and the function it packages. Each test plants one error into it.
BASELINE = {
    "functions/demo/handler.py": "def handler(event, context):\n    return None\n",
    "modules/lambda-function/variables.tf": """
        variable "name" {
          type        = string
          description = "Function name."
        }

        variable "package" {
          type        = string
          description = "Directory under functions/."
        }

        variable "tags" {
          type        = map(string)
          description = "Tags."
          default     = {}
        }

        variable "event_rules" {
          type = map(object({
            schedule_expression = optional(string)
            input               = optional(string)
          }))
          description = "Rules invoking the function."
          default     = {}

          validation {
            condition     = alltrue([for k, r in var.event_rules : r.schedule_expression != null])
            error_message = "Each rule needs a schedule_expression."
          }
        }
        """,
    "modules/lambda-function/main.tf": """
        data "aws_iam_policy_document" "assume" {
          statement {
            actions = ["sts:AssumeRole"]

            principals {
              type        = "Service"
              identifiers = ["lambda.amazonaws.com"]
            }
          }
        }

        resource "aws_iam_role" "this" {
          name               = var.name
          assume_role_policy = data.aws_iam_policy_document.assume.json
          tags               = var.tags
        }

        data "archive_file" "package" {
          type        = "zip"
          source_dir  = "${path.module}/../../functions/${var.package}"
          output_path = "${path.module}/dist/${var.name}.zip"
        }

        resource "aws_lambda_function" "this" {
          function_name    = var.name
          role             = aws_iam_role.this.arn
          handler          = "handler.handler"
          runtime          = "python3.13"
          filename         = data.archive_file.package.output_path
          source_code_hash = data.archive_file.package.output_base64sha256

          dynamic "environment" {
            for_each = length(var.tags) > 0 ? [var.tags] : []
            iterator = env
            content {
              variables = env.value
            }
          }

          tracing_config {
            mode = "Active"
          }

          lifecycle {
            ignore_changes = [tags]
          }
        }

        resource "aws_cloudwatch_event_rule" "this" {
          for_each = var.event_rules

          name                = "${var.name}-${each.key}"
          schedule_expression = each.value.schedule_expression
        }

        resource "aws_cloudwatch_event_target" "this" {
          for_each = var.event_rules

          rule  = aws_cloudwatch_event_rule.this[each.key].name
          arn   = aws_lambda_function.this.arn
          input = each.value.input
        }
        """,
    "modules/lambda-function/outputs.tf": """
        output "function_arn" {
          description = "ARN of the function."
          value       = aws_lambda_function.this.arn
        }

        output "rule_arns" {
          description = "Rule ARNs keyed like var.event_rules."
          value       = { for k, r in aws_cloudwatch_event_rule.this : k => r.arn }
        }
        """,
    "modules/feature/main.tf": """
        variable "name_prefix" {
          type        = string
          description = "Prefix of every name."
          default     = "opskit"

          validation {
            condition     = can(regex("^[a-z-]+$", var.name_prefix))
            error_message = "name_prefix must be lower-case letters and hyphens."
          }
        }

        variable "schedules" {
          type        = map(string)
          description = "Schedule expressions keyed by a stable name."
          default     = {}
        }

        locals {
          name    = "${var.name_prefix}-feature"
          banner  = <<-EOT
            %{ for key, expression in var.schedules ~}
            ${key}: ${expression} in ${local.name}
            %{ endfor ~}
          EOT
          literal = "var.not_a_reference and $${var.escaped}"
        }

        data "aws_caller_identity" "current" {}

        resource "aws_sns_topic" "alerts" {
          name              = "${local.name}-alerts"
          kms_master_key_id = "alias/aws/sns"
        }

        resource "aws_sqs_queue" "buffer" {
          count = length(var.schedules) > 0 ? 1 : 0

          name = "${local.name}-${count.index}"
        }

        module "function" {
          source = "../lambda-function"

          name    = local.name
          package = "demo"
          event_rules = {
            for key, expression in var.schedules : key => {
              schedule_expression = expression
              input               = jsonencode({ account = data.aws_caller_identity.current.account_id })
            }
          }
        }

        output "function_arn" {
          description = "ARN of the function."
          value       = module.function.function_arn
        }

        output "queue_urls" {
          description = "Buffer queue URLs."
          value       = aws_sqs_queue.buffer[*].url
        }
        """,
    "main.tf": """
        variable "feature" {
          type = object({
            enabled   = optional(bool, true)
            schedules = optional(map(string), {})
          })
          description = "Settings of the feature module."
          default     = {}
        }

        module "feature" {
          source = "./modules/feature"
          count  = var.feature.enabled ? 1 : 0

          schedules = var.feature.schedules
        }

        output "feature_function_arn" {
          description = "ARN of the feature's function (null when disabled)."
          value       = one(module.feature[*].function_arn)
        }
        """,
    "environments/dev.tfvars": """
        feature = {
          enabled   = true
          schedules = { nightly = "cron(0 2 * * ? *)" }
        }
        """,
}


def build(root: Path, changes: dict[str, tuple[str, str]] | None = None, extra: dict[str, str] | None = None) -> Path:
    """Write BASELINE under root; `changes` maps a file to (old, new) text to replace exactly once."""
    files = {name: textwrap.dedent(text).lstrip("\n") for name, text in BASELINE.items()}
    for name, (old, new) in (changes or {}).items():
        assert files[name].count(old) == 1, f"{old!r} must occur once in {name}"
        files[name] = files[name].replace(old, new)
    for name, text in (extra or {}).items():
        files[name] = textwrap.dedent(text).lstrip("\n")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def line_of(root: Path, name: str, needle: str) -> int:
    lines = (root / name).read_text(encoding="utf-8").splitlines()
    matches = [n for n, line in enumerate(lines, 1) if needle in line]
    assert len(matches) == 1, f"{needle!r} must be on exactly one line of {name}"
    return matches[0]


def findings(root: Path) -> list[tfvalidate.Finding]:
    return tfvalidate.validate_repo(root, schema=SCHEMA)


def only(root: Path) -> tfvalidate.Finding:
    result = findings(root)
    assert len(result) == 1, "\n".join(map(str, result))
    return result[0]


def assert_finding(root: Path, name: str, needle: str, message: str) -> None:
    finding = only(root)
    assert (finding.file, finding.line) == (name, line_of(root, name, needle)), str(finding)
    assert message in finding.message, str(finding)


# ---- valid Terraform is accepted


def test_baseline_tree_is_clean(tmp_path: Path) -> None:
    assert findings(build(tmp_path)) == []


VALID_CONSTRUCTS = """
    terraform {
      required_version = ">= 1.5"
    }

    provider "aws" {
      alias  = "us_east_1"
      region = "us-east-1"

      default_tags {
        tags = { Project = "opskit" }
      }
    }

    moved {
      from = aws_sns_topic.old
      to   = aws_sns_topic.alerts
    }

    locals {
      names   = [for i, name in ["a", "b"] : "${i}-${name}" if name != "c"]
      by_name = { for name in local.names : name => upper(name)... }
      note    = "%{ if terraform.workspace == "default" }${path.root}%{ else }${path.cwd}%{ endif }"
      keys    = { "aws:SourceArn" = "x", (local.note) = 1 }
      first   = try(local.names[0], null)
      arns    = aws_sqs_queue.buffer[*].arn
      legacy  = aws_sqs_queue.buffer.*.arn
    }

    resource "aws_sns_topic" "extra" {
      provider = aws.us_east_1
      count    = 2

      name = "extra-${count.index}"

      lifecycle {
        ignore_changes        = all
        create_before_destroy = true
        replace_triggered_by  = [aws_sns_topic.alerts.id]

        postcondition {
          condition     = self.arn != ""
          error_message = "The topic needs an ARN."
        }
      }

      provisioner "local-exec" {
        command = "echo ${self.arn}"
      }

      depends_on = [module.function, data.aws_caller_identity.current]
    }

    data "aws_iam_policy_document" "nested" {
      dynamic "statement" {
        for_each = { publish = ["sns:Publish"] }
        iterator = grant
        content {
          sid     = grant.key
          actions = grant.value

          dynamic "condition" {
            for_each = [aws_sns_topic.extra[0].arn]
            content {
              test     = "ArnEquals"
              variable = "aws:SourceArn"
              values   = [condition.value, grant.key]
            }
          }
        }
      }
    }

    check "topic" {
      assert {
        condition     = length(aws_sns_topic.extra) == 2
        error_message = "Two topics."
      }
    }
    """


def test_valid_constructs_produce_no_findings(tmp_path: Path) -> None:
    result = findings(build(tmp_path, extra={"modules/feature/valid.tf": VALID_CONSTRUCTS}))
    assert result == [], "\n".join(map(str, result))


def test_repository_validates_clean() -> None:
    result = tfvalidate.validate_repo(REPO)
    assert result == [], "\n".join(map(str, result))


def test_finding_prints_as_file_line_message() -> None:
    assert str(tfvalidate.Finding("modules/x/main.tf", 7, "boom")) == "modules/x/main.tf:7: boom"


# ---- schema checks


def test_misspelled_argument(tmp_path: Path) -> None:
    root = build(
        tmp_path, {"modules/lambda-function/main.tf": ("  function_name    = var.name", "  functon_name = var.name")}
    )
    result = findings(root)
    name = "modules/lambda-function/main.tf"
    assert [(f.file, f.line) for f in result] == [
        (name, line_of(root, name, 'resource "aws_lambda_function"')),
        (name, line_of(root, name, "functon_name")),
    ]
    assert 'missing required argument "function_name"' in result[0].message
    assert 'unsupported argument "functon_name" (did you mean "function_name"?)' in result[1].message


def test_missing_required_block(tmp_path: Path) -> None:
    schedule = """
        resource "aws_scheduler_schedule" "nightly" {
          schedule_expression = "cron(0 2 * * ? *)"

          flexible_time_window {
            mode = "OFF"
          }
        }
        """
    root = build(tmp_path, extra={"modules/feature/schedule.tf": schedule})
    assert_finding(root, "modules/feature/schedule.tf", "aws_scheduler_schedule", 'missing required block "target"')


def test_required_block_may_come_from_a_dynamic_block(tmp_path: Path) -> None:
    schedule = """
        resource "aws_scheduler_schedule" "nightly" {
          schedule_expression = "cron(0 2 * * ? *)"

          flexible_time_window {
            mode = "OFF"
          }

          dynamic "target" {
            for_each = { main = aws_sns_topic.alerts.arn }
            content {
              arn      = target.value
              role_arn = "arn:aws:iam::123456789012:role/${target.key}"
            }
          }
        }
        """
    assert findings(build(tmp_path, extra={"modules/feature/schedule.tf": schedule})) == []


def test_missing_required_argument_in_nested_block(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/lambda-function/main.tf": ('    mode = "Active"\n', "")})
    name = "modules/lambda-function/main.tf"
    assert_finding(
        root, name, "tracing_config {", 'aws_lambda_function.this.tracing_config: missing required argument "mode"'
    )


def test_unknown_resource_type(tmp_path: Path) -> None:
    root = build(
        tmp_path,
        {"modules/feature/main.tf": ('resource "aws_sns_topic" "alerts"', 'resource "aws_sns_topik" "alerts"')},
    )
    result = findings(root)
    name = "modules/feature/main.tf"
    assert result[0] == tfvalidate.Finding(
        name,
        line_of(root, name, "aws_sns_topik"),
        'unknown resource type "aws_sns_topik" (did you mean "aws_sns_topic"?)',
    )


def test_real_type_missing_from_the_subset_asks_for_a_refresh(tmp_path: Path) -> None:
    extra = {"modules/feature/bucket.tf": 'resource "aws_glue_job" "x" {\n  name     = "x"\n  role_arn = "y"\n}\n'}
    root = build(tmp_path, extra=extra)
    assert SCHEMA.exists("resource", "aws_glue_job") and SCHEMA.block("resource", "aws_glue_job") is None
    assert_finding(
        root,
        "modules/feature/bucket.tf",
        "aws_glue_job",
        "not in the vendored provider schema subset: run `make schema`",
    )


def test_argument_written_as_block_and_block_as_argument(tmp_path: Path) -> None:
    changes = {
        "modules/lambda-function/main.tf": (
            '  runtime          = "python3.13"',
            '  runtime          = "python3.13"\n  tracing_config = {}\n  publish {}',
        )
    }
    root = build(tmp_path, changes)
    name = "modules/lambda-function/main.tf"
    result = [(f.line, f.message) for f in findings(root)]
    assert (
        line_of(root, name, "tracing_config = {}"),
        'aws_lambda_function.this: "tracing_config" is a block; write tracing_config { ... }, not tracing_config = ...',
    ) in result
    assert (
        line_of(root, name, "publish {}"),
        'aws_lambda_function.this: "publish" is an argument; write publish = ..., not a block',
    ) in result
    assert len(result) == 2


def test_computed_attribute_cannot_be_set(tmp_path: Path) -> None:
    root = build(
        tmp_path,
        {
            "modules/lambda-function/main.tf": (
                '  handler          = "handler.handler"',
                '  handler = "handler.handler"\n  invoke_arn = "x"',
            )
        },
    )
    assert_finding(root, "modules/lambda-function/main.tf", "invoke_arn", '"invoke_arn" is read-only')


def test_max_items_exceeded(tmp_path: Path) -> None:
    second = '  tracing_config {\n    mode = "PassThrough"\n  }\n\n  lifecycle {'
    root = build(tmp_path, {"modules/lambda-function/main.tf": ("  lifecycle {", second)})
    name = "modules/lambda-function/main.tf"
    finding = only(root)
    assert finding.line == line_of(root, name, '"PassThrough"') - 1
    assert 'too many "tracing_config" blocks (at most 1)' in finding.message


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ('timeout = "soon"', '"timeout" expects a number (number), got "soon"'),
        ('architectures = "arm64"', '"architectures" expects a list (list(string)), got "arm64"'),
        ("publish = 1", '"publish" expects a bool (bool), got number'),
        ('tags = ["a"]', '"tags" expects a map (map(string)), got tuple'),
        ('description = { text = "x" }', '"description" expects a string (string), got object'),
    ],
)
def test_literal_of_the_wrong_type(tmp_path: Path, new: str, message: str) -> None:
    root = build(tmp_path, {"modules/lambda-function/main.tf": ('  handler          = "handler.handler"', f"  {new}")})
    assert [(f.line, f.message) for f in findings(root)] == [
        (line_of(root, "modules/lambda-function/main.tf", new), f"aws_lambda_function.this: {message}")
    ]


def test_literals_terraform_converts_are_accepted(tmp_path: Path) -> None:
    changes = {
        "modules/lambda-function/main.tf": (
            '  handler          = "handler.handler"',
            '  handler = "h.h"\n  timeout = "60"\n  publish = "true"\n  memory_size = 128',
        )
    }
    assert findings(build(tmp_path, changes)) == []


def test_unknown_dynamic_block_and_iterator_misuse(tmp_path: Path) -> None:
    root = build(
        tmp_path, {"modules/lambda-function/main.tf": ("      variables = env.value", "      variables = env.values")}
    )
    assert_finding(root, "modules/lambda-function/main.tf", "env.values", '"env" is a dynamic-block iterator')
    root2 = build(
        tmp_path / "b", {"modules/lambda-function/main.tf": ('dynamic "environment"', 'dynamic "environmnet"')}
    )
    assert_finding(
        root2, "modules/lambda-function/main.tf", "environmnet", 'unsupported block type "environmnet" in dynamic block'
    )


def test_unknown_lifecycle_argument(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/lambda-function/main.tf": ("ignore_changes = [tags]", "ignore_change = [tags]")})
    assert_finding(
        root, "modules/lambda-function/main.tf", "ignore_change =", 'unsupported lifecycle argument "ignore_change"'
    )


# ---- references


def test_undeclared_variable(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('"${local.name}-alerts"', '"${var.nme}-alerts"')})
    assert_finding(root, "modules/feature/main.tf", "var.nme", 'reference to undeclared input variable "nme"')


def test_undeclared_variable_inside_a_heredoc_template(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ("in ${local.name}", "in ${var.region}")})
    assert_finding(root, "modules/feature/main.tf", "var.region", 'reference to undeclared input variable "region"')


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("= local.name\n  package", "= local.nam\n  package", 'undeclared local value "nam"'),
        ("module.function.function_arn", "module.functions.function_arn", 'undeclared module "functions"'),
        ("module.function.function_arn", "module.function.function_name", 'has no output "function_name"'),
        (
            "data.aws_caller_identity.current.account_id",
            "data.aws_caller_identity.me.account_id",
            'undeclared data source "data.aws_caller_identity.me"',
        ),
        (
            "data.aws_caller_identity.current.account_id",
            "data.aws_caller_identity.current.acount_id",
            'has no attribute "acount_id"',
        ),
        ("aws_sqs_queue.buffer[*].url", "aws_sqs_queue.buffr[*].url", 'undeclared resource "aws_sqs_queue.buffr"'),
        ("aws_sqs_queue.buffer[*].url", "aws_sqs_queue.buffer[*].uri", 'aws_sqs_queue.buffer has no attribute "uri"'),
        ("aws_sqs_queue.buffer[*].url", "aws_sqs_queue.buffer.url", "has count or for_each: index it"),
        (
            '"${local.name}-${count.index}"',
            '"${local.name}-${each.key}"',
            "each.key is only valid in a resource, data or module block that sets for_each",
        ),
        ('"${local.name}-alerts"', '"${local.name}-alerts-${count.index}"', "count.index is only valid"),
        (
            "jsonencode({ account",
            "jsonencod({ account",
            'call to unknown function "jsonencod" (did you mean "jsonencode"?)',
        ),
    ],
)
def test_unresolved_references_and_functions(tmp_path: Path, old: str, new: str, message: str) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": (old, new)})
    assert_finding(root, "modules/feature/main.tf", new.split("\n")[0], message)


def test_attribute_missing_from_a_variables_object_type(tmp_path: Path) -> None:
    root = build(tmp_path, {"main.tf": ("schedules = var.feature.schedules", "schedules = var.feature.schedule")})
    message = 'var.feature has no attribute "schedule" (its object type declares: enabled, schedules)'
    assert_finding(root, "main.tf", "var.feature.schedule", message)


def test_resource_attribute_check(tmp_path: Path) -> None:
    root = build(
        tmp_path,
        {
            "modules/lambda-function/main.tf": (
                "role             = aws_iam_role.this.arn",
                "role = aws_iam_role.this.arm",
            )
        },
    )
    assert_finding(
        root,
        "modules/lambda-function/main.tf",
        "aws_iam_role.this.arm",
        'aws_iam_role.this has no attribute "arm" (did you mean "arn"?)',
    )


def test_self_only_in_provisioners_and_postconditions(tmp_path: Path) -> None:
    root = build(
        tmp_path, {"modules/feature/main.tf": ('kms_master_key_id = "alias/aws/sns"', "kms_master_key_id = self.arn")}
    )
    assert_finding(root, "modules/feature/main.tf", "self.arn", "self is only valid in provisioner")


# ---- variables and outputs


def test_variable_without_type_and_description(tmp_path: Path) -> None:
    changes = {
        "modules/feature/main.tf": (
            '  type        = map(string)\n  description = "Schedule expressions keyed by a stable name."\n',
            "",
        )
    }
    root = build(tmp_path, changes)
    name = "modules/feature/main.tf"
    line = line_of(root, name, 'variable "schedules"')
    assert [(f.file, f.line, f.message) for f in findings(root)] == [
        (name, line, 'variable "schedules" has no description'),
        (name, line, 'variable "schedules" has no type'),
    ]


def test_variable_type_typo(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ("type        = map(string)", "type = map(strng)")})
    assert_finding(root, "modules/feature/main.tf", "map(strng)", 'unknown type "strng"')


def test_variable_default_must_be_literal_and_validation_must_refer_to_itself(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('default     = "opskit"', "default = local.name")})
    assert_finding(
        root, "modules/feature/main.tf", "default = local.name", "must be a literal value: it refers to local.name"
    )
    root2 = build(
        tmp_path / "b", {"modules/feature/main.tf": ('regex("^[a-z-]+$", var.name_prefix)', 'regex("^[a-z-]+$", "x")')}
    )
    assert_finding(root2, "modules/feature/main.tf", '"^[a-z-]+$", "x"', "must refer to var.name_prefix")


def test_variable_default_must_match_its_object_type(tmp_path: Path) -> None:
    required = "schedules = optional(map(string), {})\n    owner     = string\n  })"
    root = build(tmp_path, {"main.tf": ("schedules = optional(map(string), {})\n  })", required)})
    assert [(f.file, f.line, f.message) for f in findings(root)] == [
        ("environments/dev.tfvars", 1, 'var.feature is missing required attribute "owner"'),
        (
            "main.tf",
            line_of(root, "main.tf", "default     = {}"),
            'the default of variable "feature" is missing required attribute "owner"',
        ),
    ]


def test_output_without_description(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('  description = "Buffer queue URLs."\n', "")})
    assert_finding(root, "modules/feature/main.tf", 'output "queue_urls"', 'output "queue_urls" has no description')


# ---- module calls and packages


def test_module_call_with_undeclared_input(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('package = "demo"', 'package = "demo"\n  memory = 256')})
    assert_finding(
        root,
        "modules/feature/main.tf",
        "memory = 256",
        'module "function" (../lambda-function) has no input variable "memory"',
    )


def test_module_call_missing_required_input(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('  package = "demo"\n', "")})
    assert_finding(root, "modules/feature/main.tf", 'module "function"', 'is missing required input "package"')


def test_module_call_with_object_attribute_typo(tmp_path: Path) -> None:
    """Terraform would silently drop `schedule` (and the rule would get no schedule); the validator does not."""
    call = """
        module "literal" {
          source = "../lambda-function"

          name    = "literal"
          package = "demo"
          event_rules = {
            nightly = { schedule = "rate(1 day)" }
          }
        }
        """
    root = build(tmp_path, extra={"modules/feature/literal.tf": call})
    message = 'module "literal" input "event_rules"["nightly"] has no attribute "schedule"'
    assert_finding(root, "modules/feature/literal.tf", "schedule =", message)


def test_module_source_missing(tmp_path: Path) -> None:
    root = build(tmp_path, {"main.tf": ('"./modules/feature"', '"./modules/featur"')})
    assert_finding(root, "main.tf", "./modules/featur", 'source "./modules/featur" is not a directory of .tf files')


def test_package_naming_a_missing_function(tmp_path: Path) -> None:
    root = build(tmp_path, {"modules/feature/main.tf": ('package = "demo"', 'package = "dmeo"')})
    assert_finding(root, "modules/feature/main.tf", '"dmeo"', 'package "dmeo" has no functions/dmeo/handler.py')


def test_archive_file_literal_source_dir_must_exist(tmp_path: Path) -> None:
    old = 'source_dir  = "${path.module}/../../functions/${var.package}"'
    root = build(
        tmp_path, {"modules/lambda-function/main.tf": (old, 'source_dir = "${path.module}/../../functions/gone"')}
    )
    assert_finding(root, "modules/lambda-function/main.tf", "functions/gone", "source_dir")


def test_file_functions_read_existing_files(tmp_path: Path) -> None:
    extra = {
        "modules/feature/patterns/rule.json": '{"source": ["aws.ec2"]}',
        "modules/feature/files.tf": """
            locals {
              pattern = file("${path.module}/patterns/rule.json")
              missing = templatefile("${path.module}/patterns/gone.json", { name = local.name })
            }
            """,
    }
    root = build(tmp_path, extra=extra)
    assert_finding(
        root,
        "modules/feature/files.tf",
        "gone.json",
        "templatefile() reads modules/feature/patterns/gone.json, which does not exist",
    )


def test_terraform_block_settings(tmp_path: Path) -> None:
    extra = {
        "modules/feature/versions.tf": """
        terraform {
          required_versoin = ">= 1.5"

          required_providers {
            aws = {
              source  = "hashicorp/aws"
              verison = ">= 6.0"
            }
          }
        }
        """
    }
    root = build(tmp_path, extra=extra)
    name = "modules/feature/versions.tf"
    assert [(f.file, f.line, f.message) for f in findings(root)] == [
        (name, line_of(root, name, "required_versoin"), 'terraform block: unsupported argument "required_versoin"'),
        (name, line_of(root, name, "verison"), 'required_providers.aws: unsupported attribute "verison"'),
    ]


def test_validate_dirs_checks_only_the_given_directories(tmp_path: Path) -> None:
    root = build(tmp_path, {"environments/dev.tfvars": ("feature = {", "featur = {")})
    result = tfvalidate.validate_dirs([root / "modules" / "feature"], root, schema=SCHEMA)
    assert result == []  # the tfvars typo is not part of modules/feature
    root2 = build(tmp_path / "b", {"modules/feature/main.tf": ('"${local.name}-alerts"', '"${var.nme}-alerts"')})
    [finding] = tfvalidate.validate_dirs([root2 / "modules" / "feature"], root2, schema=SCHEMA)
    assert finding.file == "modules/feature/main.tf" and "var" in finding.message


# ---- tfvars


def test_tfvars_key_not_declared(tmp_path: Path) -> None:
    root = build(tmp_path, {"environments/dev.tfvars": ("feature = {", "featur = {")})
    assert_finding(
        root,
        "environments/dev.tfvars",
        "featur =",
        '"featur" is not a variable declared by the root module (did you mean "feature"?)',
    )


def test_tfvars_object_attribute_typo(tmp_path: Path) -> None:
    root = build(tmp_path, {"environments/dev.tfvars": ("  schedules = {", "  schedule = {")})
    assert_finding(
        root,
        "environments/dev.tfvars",
        "schedule =",
        'var.feature has no attribute "schedule" (its object type declares: enabled, schedules)',
    )


def test_tfvars_object_missing_required_attribute(tmp_path: Path) -> None:
    team = """
        variable "team" {
          type = object({
            name = string
            size = optional(number, 1)
          })
          description = "A team."
          default     = null
        }
        """
    root = build(
        tmp_path,
        {"environments/dev.tfvars": ("feature = {", "team = { size = 3 }\nfeature = {")},
        extra={"team.tf": team},
    )
    assert_finding(root, "environments/dev.tfvars", "team =", 'var.team is missing required attribute "name"')


def test_tfvars_value_must_convert_to_the_variables_type(tmp_path: Path) -> None:
    root = build(tmp_path, {"environments/dev.tfvars": ("enabled   = true", "enabled   = [true]")})
    assert_finding(
        root,
        "environments/dev.tfvars",
        "[true]",
        "the value of var.feature.enabled is not compatible with its type: bool required, got a tuple",
    )


def test_tfvars_values_are_literal(tmp_path: Path) -> None:
    root = build(tmp_path, {"environments/dev.tfvars": ("enabled   = true", "enabled = var.on")})
    assert_finding(root, "environments/dev.tfvars", "var.on", "must be a literal value")


# ---- syntax


def test_syntax_error_has_a_line(tmp_path: Path) -> None:
    root = build(
        tmp_path, {"modules/feature/main.tf": ('kms_master_key_id = "alias/aws/sns"', 'kms_master_key_id = = "x"')}
    )
    result = [f for f in findings(root) if f.file == "modules/feature/main.tf"]
    assert [f.line for f in result] == [line_of(root, "modules/feature/main.tf", "= = ")]
    assert result[0].message.startswith("syntax error")


# ---- parity with `terraform validate`: each planted error is reported once, at the line marked `# HERE`

PLANTED = [
    (
        "duplicate resource across files",
        "modules/feature/planted.tf",
        'resource "aws_sns_topic" "alerts" { # HERE\n  name = "again"\n}\n',
        'duplicate resource "aws_sns_topic.alerts" (first declared at main.tf:',
    ),
    (
        "duplicate variable across files",
        "modules/feature/planted.tf",
        'variable "schedules" { # HERE\n  type        = string\n  description = "Again."\n  default     = ""\n}\n',
        'duplicate variable "schedules"',
    ),
    (
        "duplicate provider configuration",
        "providers.tf",
        'provider "aws" {\n  region = "eu-central-1"\n}\n\nprovider "aws" { # HERE\n  region = "eu-west-1"\n}\n',
        'duplicate provider configuration "aws" (first declared at line 1)',
    ),
    (
        "duplicate required_providers",
        "modules/feature/planted.tf",
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n\n'
        'terraform {\n  required_providers { # HERE\n    aws = { source = "hashicorp/aws" }\n  }\n}\n',
        "duplicate required_providers block",
    ),
    (
        "argument set twice in a terraform block",
        "modules/feature/planted.tf",
        'terraform {\n  required_version = ">= 1.5"\n  required_version = ">= 1.6" # HERE\n}\n',
        'argument "required_version" is set more than once',
    ),
    (
        "argument set twice in a lifecycle block",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    prevent_destroy = true\n'
        "    prevent_destroy = false # HERE\n  }\n}\n",
        'argument "prevent_destroy" is set more than once',
    ),
    (
        "two lifecycle blocks",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    prevent_destroy = true\n  }\n'
        "  lifecycle { # HERE\n    create_before_destroy = true\n  }\n}\n",
        "aws_sqs_queue.p: duplicate lifecycle block",
    ),
    (
        "depends_on naming an attribute",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  depends_on = [aws_sns_topic.alerts.arn] # HERE\n}\n',
        "aws_sqs_queue.p: depends_on must name a whole object, not an attribute (aws_sns_topic.alerts.arn)",
    ),
    (
        "depends_on with a function call",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  depends_on = [one([aws_sns_topic.alerts])] # HERE\n}\n',
        "a depends_on entry must be a plain reference",
    ),
    (
        "depends_on that is not a list",
        "modules/feature/planted.tf",
        'output "p" {\n  description = "P."\n  value       = 1\n  depends_on  = aws_sns_topic.alerts # HERE\n}\n',
        'output "p": depends_on must be a list of references',
    ),
    (
        "module depends_on naming a local's attribute",
        "modules/feature/planted.tf",
        'module "again" {\n  source     = "../lambda-function"\n  name       = "again"\n  package    = "demo"\n'
        "  depends_on = [local.name.x] # HERE\n}\n",
        'module "again": depends_on must name a whole object, not an attribute (local.name.x)',
    ),
    (
        "version on a local module source",
        "modules/feature/planted.tf",
        'module "again" {\n  source  = "../lambda-function"\n  version = "1.0.0" # HERE\n  name    = "again"\n'
        '  package = "demo"\n}\n',
        'module "again": version cannot be used with a local source ("../lambda-function")',
    ),
    (
        "ignore_changes naming a missing attribute",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    ignore_changes = [\n      tags,\n'
        "      delay_secs, # HERE\n    ]\n  }\n}\n",
        'aws_sqs_queue.p: ignore_changes names "delay_secs", which aws_sqs_queue does not have (did you mean',
    ),
    (
        "ignore_changes that is neither a list nor all",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    ignore_changes = local.name # HERE\n  }\n}\n',
        "ignore_changes must be a list of attribute names, or all",
    ),
    (
        "lifecycle flag that is not a bool",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    create_before_destroy = "yes" # HERE\n  }\n}\n',
        'aws_sqs_queue.p lifecycle: "create_before_destroy" expects a bool (bool), got "yes"',
    ),
    (
        "for_each given a list literal",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  for_each = ["a", "b"] # HERE\n\n  name = each.key\n}\n',
        'aws_sqs_queue.p: "for_each" must be a map or a set of strings, got a tuple literal (wrap a list in toset',
    ),
    (
        "count given a non-numeric string",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  count = "two" # HERE\n}\n',
        'aws_sqs_queue.p: "count" expects a number (number), got "two"',
    ),
    (
        "variable nullable that is not a bool",
        "modules/feature/planted.tf",
        'variable "p" {\n  type        = string\n  description = "P."\n  default     = ""\n'
        '  nullable    = "no" # HERE\n}\n',
        'variable "p": "nullable" expects a bool (bool), got "no"',
    ),
    (
        "output sensitive that is not a bool",
        "modules/feature/planted.tf",
        'output "p" {\n  description = "P."\n  value       = 1\n  sensitive   = "very" # HERE\n}\n',
        'output "p": "sensitive" expects a bool (bool), got "very"',
    ),
    (
        "variable default that does not convert to a number",
        "modules/feature/planted.tf",
        'variable "p" {\n  type        = number\n  description = "P."\n  default     = "ten" # HERE\n}\n',
        'the default of variable "p" is not compatible with its type: number required, got "ten"',
    ),
    (
        "variable default list for a string",
        "modules/feature/planted.tf",
        'variable "p" {\n  type        = map(string)\n  description = "P."\n  default     = ["a"] # HERE\n}\n',
        'the default of variable "p" is not compatible with its type: map required, got a tuple',
    ),
    (
        "variable default with a nested attribute of the wrong type",
        "modules/feature/planted.tf",
        'variable "p" {\n  type = object({\n    retries = optional(number, 1)\n  })\n  description = "P."\n'
        "  default = {\n    retries = [1] # HERE\n  }\n}\n",
        'the default of variable "p".retries is not compatible with its type: number required, got a tuple',
    ),
    (
        "moved block without to",
        "modules/feature/planted.tf",
        "moved { # HERE\n  from = aws_sns_topic.old\n}\n",
        'moved block: missing required argument "to"',
    ),
    (
        "moved block with a string address",
        "modules/feature/planted.tf",
        'moved {\n  from = "aws_sns_topic.old" # HERE\n  to   = aws_sns_topic.alerts\n}\n',
        'moved block: "from" must be an address',
    ),
    (
        "import block without id",
        "modules/feature/planted.tf",
        "import { # HERE\n  to = aws_sns_topic.alerts\n}\n",
        'import block: missing required argument "id"',
    ),
    (
        "removed block with an unknown argument",
        "modules/feature/planted.tf",
        "removed {\n  from    = aws_sns_topic.old\n  destroy = false # HERE\n}\n",
        'removed block: unsupported argument "destroy"',
    ),
    (
        "check block with an argument",
        "modules/feature/planted.tf",
        'check "p" {\n  condition = true # HERE\n\n  assert {\n    condition     = local.name != ""\n'
        '    error_message = "P."\n  }\n}\n',
        'check "p": unsupported argument "condition"',
    ),
    (
        "resource using a provider alias the root does not configure",
        "providers.tf",
        'provider "aws" {\n  alias  = "us_east_1"\n  region = "us-east-1"\n}\n\n'
        'resource "aws_sns_topic" "p" {\n  provider = aws.us_east_2 # HERE\n}\n',
        'aws_sns_topic.p: provider configuration "aws.us_east_2" is not declared in this module',
    ),
    (
        "index on a resource without count or for_each",
        "modules/feature/planted.tf",
        'output "p" {\n  description = "P."\n  value       = aws_sns_topic.alerts[0].arn # HERE\n}\n',
        "aws_sns_topic.alerts has neither count nor for_each: refer to it without an index",
    ),
    (
        "precondition that refers to nothing outside itself",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  lifecycle {\n    precondition {\n'
        "      condition     = length([for x in [1] : x]) > 0 # HERE\n"
        '      error_message = "P."\n    }\n  }\n}\n',
        "aws_sqs_queue.p precondition: the condition must refer to something",
    ),
    (
        "check block without an assert",
        "modules/feature/planted.tf",
        'check "p" { # HERE\n  data "aws_caller_identity" "me" {}\n}\n',
        'check "p" needs at least one assert block',
    ),
    (
        "duplicate check block",
        "modules/feature/planted.tf",
        'check "p" {\n  assert {\n    condition     = local.name != ""\n    error_message = "P."\n  }\n}\n\n'
        'check "p" { # HERE\n  assert {\n    condition     = local.name != ""\n    error_message = "P."\n  }\n}\n',
        'duplicate check "p" (first declared at line 1)',
    ),
    (
        "count that is not a whole number",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  count = 1.5 # HERE\n}\n',
        'aws_sqs_queue.p: "count" must be a whole number, got 1.5',
    ),
    (
        "two connection blocks",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "p" {\n  connection {\n    host = "a"\n  }\n\n  connection { # HERE\n'
        '    host = "b"\n  }\n}\n',
        "aws_sqs_queue.p: duplicate connection block",
    ),
    (
        "ephemeral output in the root module",
        "outputs_extra.tf",
        'output "p" {\n  description = "P."\n  value       = 1\n  ephemeral   = true # HERE\n}\n',
        'output "p": the root module cannot have ephemeral outputs',
    ),
    (
        "function called with too few arguments",
        "modules/feature/planted.tf",
        "locals {\n  parts = split(local.name) # HERE\n}\n",
        "split() takes 2 argument(s), got 1",
    ),
    (
        "function called with too many arguments",
        "modules/feature/planted.tf",
        'locals {\n  shout = upper(local.name, "!") # HERE\n}\n',
        "upper() takes 1 argument(s), got 2",
    ),
    (
        "reserved variable name",
        "modules/feature/planted.tf",
        'variable "count" { # HERE\n  type        = number\n  description = "P."\n  default     = 1\n}\n',
        'variable name "count" is reserved',
    ),
    (
        "name that starts with a digit",
        "modules/feature/planted.tf",
        'resource "aws_sqs_queue" "1st" { # HERE\n}\n',
        'invalid resource name "1st"',
    ),
    (
        "attribute of a string variable",
        "modules/feature/planted.tf",
        'output "p" {\n  description = "P."\n  value       = var.name_prefix.value # HERE\n}\n',
        'var.name_prefix is a string: it has no attribute "value"',
    ),
    (
        "attribute an object-literal local does not have",
        "modules/feature/planted.tf",
        'locals {\n  limits = { memory = 128, "time out" = 3 }\n}\n\n'
        'output "p" {\n  description = "P."\n  value       = local.limits.memroy # HERE\n}\n',
        'local.limits has no attribute "memroy" (its object literal has: memory, time out)',
    ),
    (
        "local value that refers to itself",
        "modules/feature/planted.tf",
        "locals {\n  size = length(local.size) # HERE\n}\n",
        "local.size refers to itself",
    ),
    (
        "local values in a cycle",
        "modules/feature/planted.tf",
        'locals {\n  left  = local.right # HERE\n  right = "${local.left}-x"\n}\n',
        "local values form a cycle: local.left -> local.right -> local.left",
    ),
    (
        "module input literal that does not convert to the variable's type",
        "modules/feature/planted.tf",
        'module "again" {\n  source  = "../lambda-function"\n  name    = ["again"] # HERE\n  package = "demo"\n}\n',
        'module "again" input "name" is not compatible with its type: string required, got a tuple',
    ),
    (
        "module providers map naming an alias the root does not configure",
        "main.tf",
        None,  # planted into the baseline root module below
        'module "feature" providers: provider configuration "aws.replica" is not declared in this module',
    ),
]


@pytest.mark.parametrize(("name", "file", "text", "message"), PLANTED, ids=[p[0] for p in PLANTED])
def test_terraform_validate_errors_are_reported(
    tmp_path: Path, name: str, file: str, text: str | None, message: str
) -> None:
    if text is None:
        root = build(
            tmp_path,
            {file: ("  count  = var.feature", "  providers = { aws = aws.replica } # HERE\n  count  = var.feature")},
        )
    else:
        root = build(tmp_path, extra={file: text})
    assert_finding(root, file, "# HERE", message)


def test_provider_aliases_are_checked_only_in_the_root_module(tmp_path: Path) -> None:
    """A child module may receive an aliased configuration from its caller, so it is not checked there."""
    planted = 'resource "aws_sns_topic" "p" {\n  provider = aws.replica\n}\n'
    assert findings(build(tmp_path, extra={"modules/feature/planted.tf": planted})) == []


# A valid tree full of constructs a naive checker trips over; every line is something Terraform accepts.
TRICKY = r"""
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source                = "hashicorp/aws"
      version               = ">= 6.0"
      configuration_aliases = [aws.replica]
    }
  }
}

variable "settings" {
  type = object({
    name    = optional(string, "x")
    retries = optional(number, 2)
    nested = optional(object({
      enabled = optional(bool, false)
      tags    = optional(map(string), {})
      items   = optional(list(object({ id = string, weight = optional(number, 1) })), [])
    }), {})
  })
  description = "Nested optional defaults."
  default     = {}
  nullable    = false
  sensitive   = false
}

variable "count_default" {
  type        = number
  description = "A number written as a string converts."
  default     = "3"
}

variable "flags" {
  type        = map(bool)
  description = "Bools written as strings convert."
  default     = { a = "true", b = false }
}

variable "pair" {
  type        = tuple([string, number])
  description = "A tuple."
  default     = ["a", 1]
}

variable "anything" {
  type        = any
  description = "Anything."
  default     = { a = [1, "b", { c = true }] }
}

variable "nothing" {
  type        = list(string)
  description = "A null default."
  default     = null
}

locals {
  rendered = <<-EOT
    Hello ${var.settings.name}!
    %{~ for idx, item in var.settings.nested.items ~}
    ${idx}: ${item.id} weighs ${item.weight}
    %{~ endfor ~}
    Literal $${not_a_ref} and %%{not_a_directive}
    %{ if var.settings.nested.enabled }on%{ else }off%{ endif }
  EOT
  matrix = flatten([
    for k, v in var.flags : [
      for n in range(2) : { key = "${k}-${n}", on = v } if v
    ]
  ])
  by_key   = { for m in local.matrix : m.key => m... }
  first    = try(local.matrix[0].key, "none")
  usable   = can(regex("^a", local.first))
  single   = one([for m in local.matrix : m.key if m.on])
  quoted   = { "aws:SourceAccount" = "1", "with space" = 2, (local.first) = 3 }
  tuple    = ["a", 1, true, null, { b = [1] }]
  escaped  = "tab\there \"quoted\" $${x} %%{y} \u00e9"
  chosen   = var.settings.retries > 1 ? tostring(var.settings.retries) : null
  looked   = lookup(var.settings.nested.tags, "Owner", "nobody")
  merged   = merge(var.settings.nested.tags, { Name = var.settings.name })
  template = templatefile("${path.module}/list.tpl", { names = ["a"], tags = local.merged })
  places   = [path.root, path.cwd, path.module, terraform.workspace]
  chained  = "${local.looked}-${local.first}"
  splat    = module.counted[*].function_arn
  indexed  = module.counted[0].function_arn
  each_out = { for k, m in module.each : k => m.function_arn }
  objlist  = [for k, v in { a = 1 } : { (k) = v }]
  cond     = var.settings.nested.enabled ? { a = 1 } : { a = 2 }
  legacy   = aws_sqs_queue.each[*].arn
  strdirs  = "%{for k in keys(var.flags)}${k},%{endfor}"
  expanded = merge([for k, v in var.flags : { (k) = v }]...)
  fallback = lookup(var.settings.nested.tags, "Team", local.looked)
  dashed-name = { a = 1 }.a
}

data "aws_iam_policy_document" "base" {
  statement {
    sid       = "Describe"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "extra" {
  statement {
    sid       = "Publish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Owner"
      values   = [local.looked]
    }
  }
}

data "aws_iam_policy_document" "combined" {
  source_policy_documents   = [data.aws_iam_policy_document.base.json]
  override_policy_documents = [data.aws_iam_policy_document.extra.json]

  dynamic "statement" {
    for_each = var.settings.nested.enabled ? { one = 1 } : {}
    content {
      sid       = "Dyn${statement.key}"
      actions   = ["sqs:SendMessage"]
      resources = ["*"]

      dynamic "principals" {
        for_each = toset(["lambda.amazonaws.com"])
        iterator = p
        content {
          type        = "Service"
          identifiers = [p.value, statement.key]
        }
      }
    }
  }
}

resource "aws_sqs_queue" "each" {
  for_each = toset(["a", "b"])
  provider = aws.replica

  name                      = "${local.first}-${each.key}"
  delay_seconds             = "5"
  message_retention_seconds = 86400
  fifo_queue                = "false"
  tags                      = merge(local.merged, { Key = each.value })

  lifecycle {
    ignore_changes        = [tags["Owner"], delay_seconds]
    create_before_destroy = true

    precondition {
      condition     = length(each.key) > 0
      error_message = "A key."
    }
  }

  depends_on = [data.aws_iam_policy_document.combined, module.counted, aws_sns_topic.alerts, var.settings, local.first]
}

resource "aws_sqs_queue" "counted" {
  count = var.settings.nested.enabled ? 1 : 0
  name  = "c-${count.index}"

  lifecycle {
    ignore_changes = all
  }

  depends_on = [aws_sqs_queue.each["a"], module.counted[0], module.counted[1].function_arn]
}

module "counted" {
  source = "../lambda-function"
  count  = 2

  name    = "n-${count.index}"
  package = "demo"

  providers = {
    aws = aws.replica
  }
}

module "each" {
  source   = "../lambda-function"
  for_each = { a = "x" }

  name       = each.value
  package    = "demo"
  depends_on = [aws_sqs_queue.counted]
}

moved {
  from = aws_sqs_queue.old
  to   = aws_sqs_queue.counted
}

moved {
  from = module.old_name
  to   = module.each
}

removed {
  from = aws_sqs_queue.gone

  lifecycle {
    destroy = false
  }
}

import {
  to = aws_sqs_queue.counted[0]
  id = "https://sqs.eu-central-1.amazonaws.com/123456789012/c-0"
}

import {
  for_each = toset(["a", "b"])
  to       = aws_sqs_queue.each[each.key]
  id       = "https://sqs.eu-central-1.amazonaws.com/123456789012/${each.key}"
}

check "queue" {
  data "aws_caller_identity" "scoped" {}

  assert {
    condition     = data.aws_caller_identity.scoped.account_id != ""
    error_message = "An account."
  }
}

output "rendered" {
  description = "Rendered text."
  value       = local.rendered
  sensitive   = true
  depends_on  = [aws_sqs_queue.each]

  precondition {
    condition     = length(local.rendered) > 0
    error_message = "Empty."
  }
}

output "everything" {
  description = "Every local, so each is evaluated."
  value = [
    local.matrix, local.by_key, local.usable, local.single, local.quoted, local.tuple, local.escaped, local.chosen,
    local.template, local.places, local.chained, local.splat, local.indexed, local.each_out, local.objlist,
    local.cond, local.legacy, local.strdirs, local.expanded, local.fallback, local.dashed-name,
    var.count_default, var.pair, var.anything, var.nothing,
    data.aws_iam_policy_document.combined.json,
  ]
}
"""

TRICKY_ROOT = """
provider "aws" {
  region = "eu-central-1"
}

provider "aws" {
  alias  = "replica"
  region = "eu-west-1"
}

module "tricky" {
  source = "./modules/tricky"

  providers = {
    aws         = aws
    aws.replica = aws.replica
  }
}

resource "aws_sns_topic" "root" {
  provider = aws.replica
  name     = "root"

  lifecycle {
    ignore_changes = ["tags"]
  }

  depends_on = ["module.tricky"]
}
"""


def build_tricky(root: Path, old: str = "", new: str = "") -> Path:
    tricky = TRICKY
    if old:
        assert tricky.count(old) == 1, old
        tricky = tricky.replace(old, new)
    return build(
        root,
        extra={
            "modules/tricky/main.tf": tricky,
            "modules/tricky/list.tpl": "%{ for n in names }${n}%{ endfor }\n",
            "modules/tricky/topic.tf": 'resource "aws_sns_topic" "alerts" {\n  name = "alerts"\n}\n',
            "tricky.tf": TRICKY_ROOT,
        },
    )


def test_tricky_but_valid_terraform_produces_no_findings(tmp_path: Path) -> None:
    result = findings(build_tricky(tmp_path))
    assert result == [], "\n".join(map(str, result))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("Hello ${var.settings.name}", "Hello ${var.settings.nmae}", 'var.settings has no attribute "nmae"'),
        ("${idx}: ${item.id}", "${idx}: ${itm.id}", 'reference to undeclared resource "itm.id"'),
        ("scoped.account_id", "scoped.acount_id", 'has no attribute "acount_id"'),
        ("identifiers = [p.value, statement.key]", "identifiers = [p.value, statement.kye]", "statement.kye"),
        ('default     = "3"', 'default     = "three"', 'number required, got "three"'),
        ("  depends_on = [aws_sqs_queue.counted]", "  depends_on = [aws_sqs_queue.counted[0].arn]", "whole object"),
    ],
)
def test_tricky_tree_is_really_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    """The clean result above is not for want of looking: one planted error in the same tree is found."""
    result = findings(build_tricky(tmp_path, old, new))
    assert len(result) == 1 and result[0].file == "modules/tricky/main.tf", "\n".join(map(str, result))
    assert message in result[0].message
    assert result[0].line == line_of(tmp_path, "modules/tricky/main.tf", new.strip().splitlines()[0])


def test_module_call_must_pass_the_childs_configuration_aliases(tmp_path: Path) -> None:
    root = build_tricky(tmp_path)
    text = (root / "tricky.tf").read_text(encoding="utf-8").replace("    aws.replica = aws.replica\n", "")
    (root / "tricky.tf").write_text(text, encoding="utf-8")
    assert_finding(
        root,
        "tricky.tf",
        'module "tricky"',
        'module "tricky" (./modules/tricky) declares configuration_aliases aws.replica: pass it in providers',
    )


# Templates with braces inside strings, nested for/if, attributes-as-blocks written as (dynamic) blocks,
# self in provisioners and postconditions, moved into a for_each module.
TRICKY_TEMPLATES = r"""
variable "rules" {
  type = map(object({
    ports  = optional(list(number), [443])
    extra  = optional(object({ note = optional(string, "n") }), {})
  }))
  description = "Rules."
  default = {
    web = {}
    api = { ports = [80, "8080"], extra = { note = "x" } }
  }
}

locals {
  doc = <<EOT
{
  "map": ${jsonencode({ for k, v in var.rules : k => v.ports })},
  "brace": "${replace("a}b", "}", "")}",
  %{ for k in [for r, v in var.rules : r if length(v.ports) > 0] ~}
  "${k}": "${lookup({ a = "}" }, k, "{")}",
  %{ endfor ~}
  "nested": "${join(",", ["${var.rules["web"].extra.note}"])}"
}
EOT
  ternary = length(var.rules) > 0 ? [for k, v in var.rules : { name = k, ports = v.ports }] : []
  keys2   = [for k, v in var.rules : "${k}:%{if length(v.ports) > 1}many%{else}one%{endif}"]
}

resource "aws_security_group" "sg" {
  for_each = var.rules
  name     = each.key

  dynamic "ingress" {
    for_each = each.value.ports
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["10.0.0.0/8"]
      description = "${each.key}-${ingress.key}"
    }
  }

  lifecycle {
    postcondition {
      condition     = self.name == each.key
      error_message = "Name."
    }
  }
}

resource "aws_sns_topic" "counted" {
  count = length(local.ternary)
  name  = "t-${count.index}"

  provisioner "local-exec" {
    command = "echo ${self.arn} ${count.index}"
  }
}

moved {
  from = module.function
  to   = module.renamed["x"]
}

module "renamed" {
  source   = "../lambda-function"
  for_each = toset(["x"])
  name     = each.key
  package  = "demo"
}

output "docs" {
  description = "D."
  value       = sensitive([local.doc, local.keys2, aws_security_group.sg["web"].id, aws_sns_topic.counted[*].arn])
}
"""


def test_tricky_templates_and_legacy_blocks_produce_no_findings(tmp_path: Path) -> None:
    result = findings(build(tmp_path, extra={"modules/feature/templates.tf": TRICKY_TEMPLATES}))
    assert result == [], "\n".join(map(str, result))


def test_attributes_as_blocks_are_checked_like_blocks(tmp_path: Path) -> None:
    planted = TRICKY_TEMPLATES.replace("from_port   = ingress.value", "from_prot   = ingress.value")
    root = build(tmp_path, extra={"modules/feature/templates.tf": planted})
    assert_finding(root, "modules/feature/templates.tf", "from_prot", 'unsupported argument "from_prot"')


# ---- the vendored schema


def test_every_type_used_in_the_repository_is_vendored() -> None:
    used = tfschema.used_types(REPO)
    missing = sorted(
        f"{kind} {name}" for kind, names in used.items() for name in names if SCHEMA.block(kind, name) is None
    )
    assert not missing, f"types missing from scripts/tfschema/provider-schema.json (run `make schema`): {missing}"


def test_schema_refresh_is_deterministic_and_selects_used_and_family_types(tmp_path: Path) -> None:
    block = {"arguments": {"name": {"required": True, "type": "string"}}}
    full = {
        "_meta": [
            {
                "provider": "registry.terraform.io/hashicorp/aws",
                "provider_version": "1.0.0",
                "package": "@cdktn/provider-aws",
                "package_version": "2.0.0",
            }
        ],
        "provider": {"aws": {"arguments": {}}},
        "resources": {"aws_glue_job": block, "aws_sqs_queue": block, "aws_zzz_unused": block},
        "data_sources": {"aws_region": block, "aws_ami": block},
    }
    source = tmp_path / "full.json"
    source.write_text(json.dumps(full), encoding="utf-8")
    repo = tmp_path / "repo"
    (repo / "modules" / "x").mkdir(parents=True)
    (repo / "modules" / "x" / "main.tf").write_text(
        'resource "aws_glue_job" "j" {\n  name = "j"\n}\n', encoding="utf-8"
    )
    first = tfschema.refresh(source, repo)
    content = first.read_bytes()
    assert tfschema.refresh(source, repo).read_bytes() == content
    document = json.loads(content)
    assert sorted(document["resources"]) == ["aws_glue_job", "aws_sqs_queue"]  # used + family, not the rest
    assert sorted(document["data_sources"]) == ["aws_region"]
    assert document["all_resources"] == ["aws_glue_job", "aws_sqs_queue", "aws_zzz_unused"]
    provenance = (first.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "cdktn-provider-aws==2.0.0" in provenance
    loaded = tfschema.load_schema(first)
    assert loaded.exists("resource", "aws_zzz_unused") and loaded.block("resource", "aws_zzz_unused") is None
