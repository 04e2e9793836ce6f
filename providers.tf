provider "aws" {
  region = var.region

  # Deploy into another account: the caller's credentials assume this role.
  dynamic "assume_role" {
    for_each = var.assume_role == null ? [] : [var.assume_role]
    content {
      role_arn     = assume_role.value.role_arn
      external_id  = assume_role.value.external_id
      session_name = assume_role.value.session_name
    }
  }

  default_tags {
    tags = merge(
      {
        Project     = "opskit"
        Environment = var.environment
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}
