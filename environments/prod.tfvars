# Production: deployed into the prod account by assuming a role from the CI account.
environment = "prod"
region      = "eu-central-1"

assume_role = {
  role_arn = "arn:aws:iam::210987654321:role/opskit-deployer"
}

log_retention_days = 365

enable_scheduler = true
scheduler = {
  schedules = {
    reporting-window = {
      start     = "cron(0 6 ? * MON *)"
      stop      = "cron(0 20 ? * FRI *)"
      timezone  = "Europe/Berlin"
      resources = ["rds"]
    }
  }
}

enable_owner_tagger = true
owner_tagger = {
  event_names = ["RunInstances", "CreateVolume", "CreateSnapshot", "CreateImage", "AllocateAddress", "CreateNetworkInterface"]
}

enable_health_check = true
health_check = {
  targets = {
    api = {
      url                = "https://api.example.com/health"
      expected_status    = [200]
      regex              = "\"status\"\\s*:\\s*\"ok\""
      max_latency_ms     = 1500
      min_cert_days      = 21
      headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:210987654321:secret:opskit/health-api-headers-AbCdEf"
    }
    homepage = {
      url           = "https://www.example.com/"
      expected_text = "Example Domain"
    }
  }
  alarm_emails = ["platform-oncall@example.com", "sre@example.com"]
}

enable_restart_workflow = true
restart_workflow = {
  instance_ids = {
    legacy-app = "i-0123456789abcdef0"
  }
  cooldown_seconds = 3600
  max_restarts     = 2
}

enable_asg_backup = true
asg_backup = {
  autoscaling_group_names = ["web-prod"]
  backup_paths            = ["/var/log", "/opt/app/data"]
}

enable_instance_protect = true
instance_protect = {
  protect_tag = { key = "Protected", value = "true" }
}
