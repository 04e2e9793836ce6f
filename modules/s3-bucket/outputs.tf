output "id" {
  description = "Name of the bucket (the provider's id)."
  value       = aws_s3_bucket.this.id
}

output "bucket" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.bucket
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "access_log_target" {
  description = "Where S3 writes this bucket's server access logs (<log bucket>/<prefix>); null when access logging is off."
  value       = var.access_logs == null ? null : "${var.access_logs.bucket}/${coalesce(var.access_logs.prefix, "${aws_s3_bucket.this.id}/")}"
}
