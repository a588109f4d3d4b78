"""Uploads through presigned URLs, and the limits run-task checks before it accepts a file."""

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import BOB_KEY
from tests.support import InProcessStack, in_process_stack, tasks_in_table

MB = 1024 * 1024


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def _upload(
    stack: InProcessStack,
    name: str,
    data: bytes,
    content_type: str = "text/plain",
    key: str | None = None,
) -> None:
    kwargs = {"key": key} if key else {}
    response = stack.call(
        "POST",
        "/api/v1/uploads/presigned-url",
        body={"file_name": name, "content_type": content_type},
        **kwargs,  # type: ignore[arg-type]
    )
    assert response.status == 200, response.text
    assert list(response.json()) == ["upload_url"]
    put = requests.put(
        response.json()["upload_url"], data=data, headers={"Content-Type": content_type}, timeout=30
    )
    assert put.status_code == 200, put.text


def test_an_uploaded_file_can_be_named_in_run_task(stack: InProcessStack) -> None:
    _upload(stack, "notes.txt", b"hello")

    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "included_file_names": ["notes.txt"]}
    )

    assert response.status == 200, response.text


def test_a_file_never_uploaded_is_422_at_its_index_and_nothing_is_written(
    stack: InProcessStack,
) -> None:
    _upload(stack, "notes.txt", b"hello")

    response = stack.call(
        "POST",
        "/api/v1/run-task",
        body={"task": "t", "included_file_names": ["notes.txt", "missing.csv"]},
    )

    assert response.status == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "included_file_names", 1]
    assert "'missing.csv' was not uploaded" in problem["msg"]
    assert problem["type"] == "value_error"
    assert tasks_in_table() == []


def test_another_owners_upload_is_not_visible(stack: InProcessStack) -> None:
    _upload(stack, "private.txt", b"alice's", key=None)

    response = stack.call(
        "POST",
        "/api/v1/run-task",
        body={"task": "t", "included_file_names": ["private.txt"]},
        key=BOB_KEY,
    )

    assert response.status == 422
    assert "was not uploaded" in response.json()["detail"][0]["msg"]


def test_an_11_mb_file_is_refused_when_a_task_names_it(stack: InProcessStack) -> None:
    _upload(stack, "big.csv", b"x" * (11 * MB), content_type="text/csv")

    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "included_file_names": ["big.csv"]}
    )

    assert response.status == 422
    assert "files are at most 10 MB" in response.json()["detail"][0]["msg"]
    assert tasks_in_table() == []


def test_more_than_50_mb_in_one_task_is_refused(stack: InProcessStack) -> None:
    names = [f"part{i}.txt" for i in range(6)]
    for name in names:
        _upload(stack, name, b"y" * (9 * MB))

    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "included_file_names": names}
    )

    assert response.status == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "included_file_names"]
    assert "a task takes 50 MB" in problem["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(
            {"file_name": "../x.txt", "content_type": "text/plain"},
            ["body", "file_name"],
            id="path",
        ),
        pytest.param(
            {"file_name": "tool.exe", "content_type": "application/octet-stream"},
            ["body", "file_name"],
            id="type",
        ),
        pytest.param(
            {"file_name": "x.png", "content_type": "text/html"},
            ["body"],
            id="content type mismatch",
        ),
        pytest.param({"file_name": "x.txt"}, ["body", "content_type"], id="no content type"),
        pytest.param(
            {"file_name": "x.txt", "content_type": "text/plain", "size": 3},
            ["body", "size"],
            id="unknown field",
        ),
    ],
)
def test_presigning_refuses_bad_names_and_types(
    stack: InProcessStack, body: dict[str, str], loc: list[str]
) -> None:
    response = stack.call("POST", "/api/v1/uploads/presigned-url", body=body)

    assert response.status == 422
    assert response.json()["detail"][0]["loc"][: len(loc)] == loc


def test_presigning_needs_a_key(stack: InProcessStack) -> None:
    response = stack.call(
        "POST",
        "/api/v1/uploads/presigned-url",
        body={"file_name": "a.txt", "content_type": "text/plain"},
        key=None,
    )
    assert response.status == 401
