"""Starting tasks from S3 and EventBridge on ``browser-tasks local``: moto's S3 notifies its
default bus, the stack's rules queue the notification, the TriggerFunction (its own process)
creates the task, and the real worker runs it in Chromium with the real Agent (only the model
is scripted). The result object and the outcome event come back the way a caller reads them.
"""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_triggers_key_0123456789"
OWNER = "local"  # the owner `browser-tasks local` binds its key to
SAMPLE_RULE = json.loads((PROJECT_ROOT / "events/task-finished-to-sqs.json").read_text())
SAMPLE_EVENT = json.loads((PROJECT_ROOT / "events/run-task.json").read_text())


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY) as world:
        world.llm.set_script(
            lambda _request, _served: [{"done": {"text": "The title is Hello", "success": True}}]
        )
        yield world


def _resource(world: TaskWorld, logical_id: str) -> str:
    parameter = world.aws("ssm").get_parameter(Name="/browser-tasks/resources")
    return str(json.loads(parameter["Parameter"]["Value"])[logical_id])


def _eventually(what: str, probe: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.3)
    return found


def _object(world: TaskWorld, bucket: str, key: str) -> Any:
    s3 = world.aws("s3")
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _test_queue(world: TaskWorld, name: str) -> tuple[str, str]:
    sqs = world.aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _messages(world: TaskWorld, url: str) -> list[dict[str, Any]]:
    got = world.aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def _trigger_queue_idle(world: TaskWorld) -> bool:
    counts = world.aws("sqs").get_queue_attributes(
        QueueUrl=_resource(world, "TriggerQueue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(n) == 0 for n in counts.values())


def _tasks_with(world: TaskWorld, key: str, value: str) -> list[dict[str, Any]]:
    page = world.read("/tasks", **{f"metadata[{key}]": value, "limit": "100"})
    return list(page["tasks"])


def test_a_dropped_spec_runs_to_a_result_object_once(world: TaskWorld) -> None:
    bucket = _resource(world, "TaskSpecsBucket")
    # A copy of every notification the bucket sends, to deliver one again below.
    copies_url, copies_arn = _test_queue(world, "spec-notifications")
    events = world.aws("events")
    events.put_rule(
        Name="copy-spec-notifications",
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [bucket]},
                    "object": {"key": [{"prefix": "incoming/"}]},
                },
            }
        ),
    )
    events.put_targets(
        Rule="copy-spec-notifications", Targets=[{"Id": "copies", "Arn": copies_arn}]
    )
    spec = {
        "task": f"Open {world.site.url('/page?title=Hello')} and tell me the title",
        "max_agent_steps": 3,
        "use_adblock": False,
        "metadata": {"run": "spec-1"},
    }

    world.aws("s3").put_object(
        Bucket=bucket, Key=f"incoming/{OWNER}/job-1.json", Body=json.dumps(spec).encode()
    )

    result = _eventually(
        "the result object", lambda: _object(world, bucket, f"results/{OWNER}/job-1.json"), 120
    )
    assert result["status"] == "finished"
    assert result["output"] == "The title is Hello"
    assert result["steps_count"] >= 1
    assert result["metadata"] == {"run": "spec-1"}
    assert result["live_url"] is None
    (task,) = _tasks_with(world, "run", "spec-1")
    assert task["id"] == result["id"]
    assert world.status(result["id"]) == "finished"

    # The same notification delivered again starts nothing more.
    # (moto may already have delivered it twice: one notification, however many copies)
    (notification,) = {json.dumps(m, sort_keys=True) for m in _messages(world, copies_url)}
    world.aws("sqs").send_message(
        QueueUrl=_resource(world, "TriggerQueue"), MessageBody=notification
    )
    _eventually("the redelivery handled", lambda: _trigger_queue_idle(world) or None)
    assert len(_tasks_with(world, "run", "spec-1")) == 1
    assert world.llm.errors == []


def test_an_invalid_spec_yields_an_error_object_and_no_task(world: TaskWorld) -> None:
    bucket = _resource(world, "TaskSpecsBucket")

    world.aws("s3").put_object(
        Bucket=bucket,
        Key=f"incoming/{OWNER}/bad.json",
        Body=json.dumps({"task": "", "max_agent_steps": 0, "metadata": {"run": "bad"}}).encode(),
    )

    error = _eventually(
        "the error object", lambda: _object(world, bucket, f"results/{OWNER}/bad.error.json")
    )
    locs = [entry["loc"] for entry in error["detail"]]
    assert ["body", "task"] in locs
    assert ["body", "max_agent_steps"] in locs
    assert _tasks_with(world, "run", "bad") == []


def test_a_run_task_event_starts_a_task_whose_outcome_a_users_rule_delivers(
    world: TaskWorld,
) -> None:
    bus = _resource(world, "EventBus")
    outcomes_url, outcomes_arn = _test_queue(world, "task-outcomes")
    events = world.aws("events")
    # The caller's own rule, from the sample in events/.
    events.put_rule(
        Name=SAMPLE_RULE["Name"],
        EventBusName=bus,
        EventPattern=json.dumps(SAMPLE_RULE["EventPattern"]),
    )
    events.put_targets(
        Rule=SAMPLE_RULE["Name"], EventBusName=bus, Targets=[{"Id": "mine", "Arn": outcomes_arn}]
    )
    (entry,) = SAMPLE_EVENT
    detail = {
        **json.loads(entry["Detail"]),
        "owner": OWNER,
        "task": f"Open {world.site.url('/page?title=Hello')} and tell me the title",
        "use_adblock": False,
        "metadata": {"run": "event-1"},
    }

    events.put_events(Entries=[{**entry, "EventBusName": bus, "Detail": json.dumps(detail)}])

    (task,) = _eventually("the task", lambda: _tasks_with(world, "run", "event-1") or None)
    assert world.wait_until_ended(task["id"]) == "finished"
    outcome = _eventually(
        "the outcome on the caller's queue",
        lambda: next(
            (m for m in _messages(world, outcomes_url) if m["detail"]["task_id"] == task["id"]),
            None,
        ),
    )
    assert outcome["detail-type"] == "TaskStatusChanged"
    assert outcome["detail"]["status"] == "finished"
    assert outcome["detail"]["metadata"] == {"run": "event-1"}
    assert world.task_item(task["id"])["origin"]["kind"] == "event"
