"""Files that must agree with each other so a deploy ships what the tests ran."""

import json
import re
import tomllib

from tests.conftest import PROJECT_ROOT


def test_layer_requirements_mirror_the_project_dependencies() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    lines = (PROJECT_ROOT / "layers/common/requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    assert requirements == pyproject["project"]["dependencies"]


def test_sample_work_message_has_the_fields_the_state_machine_sends() -> None:
    definition = json.loads((PROJECT_ROOT / "functions/workflow/definition.asl.json").read_text())
    sent = definition["States"]["RunChunk"]["Parameters"]["MessageBody"]
    sent_fields = {re.sub(r"\.\$$", "", key) for key in sent}
    event = json.loads((PROJECT_ROOT / "events/sqs_work_message.json").read_text())

    (record,) = event["Records"]
    assert set(json.loads(record["body"])) == sent_fields


def test_request_repr_never_shows_secret_values() -> None:
    from browser_tasks.models.run_task import RunTaskRequest

    request = RunTaskRequest(
        task="t", secrets={"pw": "canary-in-repr", "https://x.com": {"a": "b"}}
    )

    assert "canary-in-repr" not in repr(request)
    assert "canary-in-repr" not in str(request)
