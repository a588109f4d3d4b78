"""Files that must agree with each other so a deploy ships what the tests ran."""

import json
import re
import tomllib

from browser_tasks.local.template import load_template
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


# The worker image cannot be built here (Docker and the internet); these keep its Dockerfile
# in step with the template and the repository. scripts/check-deploy lints it (hadolint).
DOCKERFILE = PROJECT_ROOT / "functions/agent_worker/Dockerfile"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) in order: comment lines dropped, continued lines joined."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.strip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (instruction.upper(), arguments.strip())
        for instruction, arguments in re.findall(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)
    ]


def sent_to_docker(path: str, ignore_patterns: list[str]) -> bool:
    """Whether .dockerignore lets a file into the build context, as Docker reads it: the last
    pattern that matches the file or one of its folders decides, ``!`` lets it back in."""
    parts = path.split("/")
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    sent = True
    for pattern in ignore_patterns:
        regex = re.escape(pattern.removeprefix("!"))
        regex = regex.replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            sent = pattern.startswith("!")
    return sent


def test_worker_image_runs_the_handler_and_python_the_template_names() -> None:
    resources = load_template(PROJECT_ROOT / "template.yaml")["Resources"]
    worker = resources["AgentWorkerFunction"]
    instructions = dockerfile_instructions()
    (base_image,) = [arguments for name, arguments in instructions if name == "FROM"]
    (command,) = [json.loads(arguments) for name, arguments in instructions if name == "CMD"]
    zip_runtimes = {
        resource["Properties"]["Runtime"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function" and "Runtime" in resource["Properties"]
    }

    assert PROJECT_ROOT / worker["Metadata"]["Dockerfile"] == DOCKERFILE
    assert command == worker["Properties"]["ImageConfig"]["Command"] == ["app.lambda_handler"]
    # One Python everywhere: the image's is the zip functions' Runtime.
    assert {base_image.replace("public.ecr.aws/lambda/python:", "python")} == zip_runtimes


def test_worker_image_installs_the_layer_requirements_and_the_worker_extra() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    (pip_install,) = [
        arguments for name, arguments in dockerfile_instructions() if "pip install" in arguments
    ]

    assert "-c /tmp/constraints.txt -r /tmp/requirements.txt" in pip_install
    assert (
        re.findall(r'"([^"]+)"', pip_install)
        == pyproject["project"]["optional-dependencies"]["worker"]
    )


def test_worker_image_copies_files_the_build_context_sends() -> None:
    ignore_lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    ignore_patterns = [
        line.strip() for line in ignore_lines if line.strip() and not line.startswith("#")
    ]
    copies = [
        arguments.split()[:-1] for name, arguments in dockerfile_instructions() if name == "COPY"
    ]
    sources = [source for copy in copies for source in copy]

    for source in sources:
        matched = sorted(PROJECT_ROOT.glob(source))
        files = [
            path for match in matched for path in (match.rglob("*") if match.is_dir() else [match])
        ]
        sent = [
            path
            for path in files
            if sent_to_docker(path.relative_to(PROJECT_ROOT).as_posix(), ignore_patterns)
        ]
        assert sent, f"COPY {source}: nothing of it is in the build context"
        assert all(path in sent for path in matched if path.is_file()), f"COPY {source}"
    assert "functions/agent_worker/*.py" in sources  # every worker module, whatever its name
    # The developer tooling (the local stack on moto) stays out of the image.
    assert not sent_to_docker("layers/common/browser_tasks/local/stack.py", ignore_patterns)
    assert sent_to_docker("layers/common/browser_tasks/services.py", ignore_patterns)
