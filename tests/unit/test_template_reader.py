"""The local stack's reading of template.yaml: short forms, intrinsics, functions."""

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from browser_tasks.local.provision import Provisioner
from browser_tasks.local.template import load_template

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Retention:
    Type: Number
    Default: 60
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        QUEUE_URL: !Ref Queue
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 3
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Environment:
        Variables:
          LABEL: !Sub "${AWS::StackName}-${Queue.QueueName}-${!Literal}"
          JOINED: !Join [":", [a, !Ref Retention]]
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


def test_short_forms_become_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)

    template = load_template(path)

    queue = template["Resources"]["Queue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetters", "Arn"]}
    assert queue["MessageRetentionPeriod"] == {"Ref": "Retention"}


def test_provisioning_resolves_references_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    with mock_aws():
        provisioner = Provisioner(load_template(path), tmp_path, "demo", "us-east-1")
        refs = provisioner.provision_all()
        sqs = boto3.client("sqs", region_name="us-east-1")
        attributes = sqs.get_queue_attributes(QueueUrl=refs["Queue"], AttributeNames=["All"])[
            "Attributes"
        ]

    assert refs["Queue"].endswith("/demo-Queue")
    assert attributes["MessageRetentionPeriod"] == "60"
    assert "demo-DeadLetters" in attributes["RedrivePolicy"]
    consumer = provisioner.functions["Consumer"]
    assert consumer.environment == {
        "QUEUE_URL": refs["Queue"],
        "LABEL": "demo-demo-Queue-${Literal}",
        "JOINED": "a:60",
    }
    assert consumer.timeout_seconds == 30
    assert consumer.code_dir == tmp_path / "fn"
    (source,) = consumer.queue_sources
    assert (source.queue_url, source.batch_size, source.reports_batch_item_failures) == (
        refs["Queue"],
        1,
        True,
    )


def test_unsupported_intrinsics_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n"
        "      Name: p\n      Value: !If [Cond, a, b]\n"
    )
    with mock_aws(), pytest.raises(ValueError, match="Fn::If is not supported"):
        Provisioner(load_template(path), tmp_path, "demo", "us-east-1").provision_all()
