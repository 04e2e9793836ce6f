# The usage the module README shows for retention on failure: a group that keeps instances whose terminate
# hook is abandoned, backed up with failure_result = ABANDON and heartbeats. Planned against the provider
# schema by tests/heartbeat.tftest.hcl (run the_readme_group_plans); not part of the module.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
    archive = {
      source = "hashicorp/archive"
    }
  }
}

resource "aws_autoscaling_group" "web" {
  name                = "web-asg"
  min_size            = 1
  max_size            = 4
  vpc_zone_identifier = ["subnet-0123456789abcdef0"]

  launch_template {
    id      = "lt-0123456789abcdef0"
    version = "$Latest"
  }

  instance_lifecycle_policy {
    retention_triggers {
      terminate_hook_abandon = "retain"
    }
  }
}

module "asg_backup" {
  source = "../.."

  autoscaling_group_names = [aws_autoscaling_group.web.name]
  failure_result          = "ABANDON"
  default_result          = "ABANDON"
  max_backup_seconds      = 43200
  command_timeout_seconds = 36000
}

output "retention" {
  value = aws_autoscaling_group.web.instance_lifecycle_policy[0].retention_triggers[0].terminate_hook_abandon
}

output "hook_names" {
  value = module.asg_backup.lifecycle_hook_names
}
