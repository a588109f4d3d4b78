"""AWS behind the domain's ports: DynamoDB, KMS, Step Functions, S3, SQS, EventBridge."""
