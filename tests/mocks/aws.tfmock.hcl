mock_data "aws_region" {
  defaults = {
    name   = "eu-central-1"
    region = "eu-central-1"
  }
}
mock_data "aws_partition" {
  defaults = {
    partition  = "aws"
    dns_suffix = "amazonaws.com"
  }
}
mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}
