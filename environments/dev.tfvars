# terraform apply -var-file=environments/dev.tfvars   (or: make apply ENV=dev)
environment = "dev"
region      = "eu-central-1"

tags = {
  CostCenter = "platform"
}

enable_scheduler = true
scheduler = {
  schedules = {
    office-hours = {
      start      = "cron(0 7 ? * MON-FRI *)"
      stop       = "cron(0 19 ? * MON-FRI *)"
      timezone   = "Europe/Berlin"
      skip_dates = ["2026-12-24", "2026-12-25", "2026-12-31"]
      resources  = ["ec2", "asg", "rds"]
    }
    nights-off = {
      stop      = "cron(0 22 ? * * *)"
      timezone  = "Europe/Berlin"
      resources = ["ec2"]
    }
  }
}

enable_owner_tagger = true
owner_tagger = {
  event_names  = ["RunInstances", "CreateVolume"]
  create_trail = true
}

enable_health_check = true
health_check = {
  targets = {
    homepage = {
      url           = "https://www.example.com/"
      expected_text = "Example Domain"
      min_cert_days = 14
    }
  }
  alarm_emails = ["platform-oncall@example.com"]
}

enable_instance_protect = true
