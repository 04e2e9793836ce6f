# Every module on, with every optional route: run by tests/environments/environments.tftest.hcl like the
# files in environments/ (see scripts/opskit_tools/tfgate.py).
environment = "test"
region      = "eu-central-1"
name_prefix = "opskit"

assume_role = {
  role_arn    = "arn:aws:iam::210987654321:role/opskit-deployer"
  external_id = "opskit-ci"
}

tags               = { CostCenter = "platform" }
log_level          = "DEBUG"
log_retention_days = 90
kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
alarm_topic_arn    = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"

enable_scheduler = true
scheduler = {
  schedules = {
    office-hours = {
      start      = "cron(0 7 ? * MON-FRI *)"
      stop       = "cron(0 19 ? * MON-FRI *)"
      timezone   = "Europe/Berlin"
      skip_dates = ["12-24", "12-25", "02-29", "2027-01-01"]
      resources  = ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
    }
    stop-only = {
      stop      = "cron(0 22 ? * * *)"
      resources = ["ec2"]
      dry_run   = true
    }
    paused = {
      start   = "cron(0 6 ? * MON *)"
      stop    = "cron(0 20 ? * FRI *)"
      enabled = false
    }
  }
  tag_key                = "Schedule"
  hibernate              = true
  verify_timeout_seconds = 60
  volume_kms_key_arns    = ["arn:aws:kms:eu-central-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
  notification_emails    = { oncall = "oncall@example.com" } # or notification_topic_arn (not both)
}

enable_owner_tagger = true
owner_tagger = {
  event_names                  = null # every supported call of every service
  created_via_tag_key          = "CreatedVia"
  create_trail                 = true
  sweep_schedule_expression    = "cron(0 3 * * ? *)"
  sweep_max_lookups            = 600
  coverage_alarm_threshold     = 98
  no_create_events_alarm_hours = 12
}

enable_health_check = true
health_check = {
  targets = {
    api = {
      url                = "https://api.example.com/health"
      method             = "POST"
      body               = "{}"
      expected_status    = [200, 204]
      regex              = "ok"
      json_pointer       = "/status/db"
      json_equals        = "\"up\""
      max_latency_ms     = 1500
      min_cert_days      = 21
      timeout_seconds    = 5
      follow_redirects   = false
      headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-headers-AbCdEf"
      depends_on         = ["db", "dns"]
      maintenance        = [{ cron = "0 2 * * SUN", duration_minutes = 120, timezone = "Europe/Berlin" }]
    }
    internal = {
      url                = "https://intranet.example.internal/"
      expected_text      = "Welcome"
      unexpected_text    = "Maintenance"
      headers_secret_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/intranet-headers"
    }
    db = {
      kind            = "tcp"
      host            = "db.example.internal"
      port            = 5432
      timeout_seconds = 3
    }
    smtp = {
      kind          = "tcp"
      host          = "smtp.example.com"
      port          = 465
      tls           = true
      min_cert_days = 14
    }
    dns = {
      kind               = "dns"
      host               = "api.example.com"
      expected_addresses = ["192.0.2.10", "2001:db8::/32"]
    }
  }
  schedule_expression  = "rate(1 minute)"
  alarm_emails         = ["oncall@example.com"]
  remind_every_minutes = 30
  sla_report = {
    schedule_expression = "cron(0 7 1 * ? *)"
    objective_percent   = 99.95
    retention_days      = 400
  }
  vpc_config = {
    subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    security_group_ids = ["sg-0123456789abcdef0"]
  }
}

enable_restart_workflow = true
restart_workflow = {
  instance_ids = {
    legacy-app = "i-0123456789abcdef0"
  }
  alarm_names         = ["existing-cpu-alarm"]
  alarm_action_arns   = { app-cpu = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:app-cpu" }
  alarm_topic_arns    = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarm-topic" }
  allowed_alarm_names = ["existing-cpu-alarm", "app-cpu"]
  opt_in_tag          = { key = "AutoRestart", value = "true" }
  cooldown_seconds    = 900
  max_restarts        = 2
  window_seconds      = 43200
  notify_on_success   = false
  dry_run             = true
  # every step kind, evidence with the screenshot, a tight fleet budget, the dashboard
  steps                   = ["ssm:opskit-restart-app", "reboot", "stop-start"]
  settle_seconds          = 240
  ssm_timeout_seconds     = 300
  capture_screenshot      = true
  evidence_retention_days = 14
  max_concurrent_restarts = 3
  max_restarts_per_hour   = 6
  create_dashboard        = true
}

enable_asg_backup = true
asg_backup = {
  autoscaling_group_names = ["web-prod", "worker-prod"]
  backup_paths            = ["/var/log", "/opt/app/data"]
  backup_retention_days   = 30
  unmanaged_result        = "ABANDON"
  email_subscriptions     = { oncall = "oncall@example.com" }
  command_timeout_seconds = 36000
  max_backup_seconds      = 43200
  failure_result          = "ABANDON"
  default_result          = "ABANDON"
}

enable_instance_protect = true
instance_protect = {
  protect_tag      = { key = "Protected", value = "yes" }
  max_restarts     = 5
  window_seconds   = 7200
  ebs_kms_key_arns = ["arn:aws:kms:eu-central-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
  notice_subscriptions = {
    oncall = { protocol = "email", endpoint = "oncall@example.com" }
  }
  create_dashboard = true
}
