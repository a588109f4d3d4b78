"""GET /task/{id}, GET /tasks and the media URLs, through the real API handler on in-process
moto. Tasks are created by run-task; their steps, media and outcome are written through the
same repositories and stores the worker uses."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from browser_tasks.adapters.browser_state_store import BrowserStateStore, task_browser_data_key
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.s3_media import S3MediaStore, upload_key
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskOutcome
from tests.conftest import ALICE_KEY, BOB_KEY
from tests.support import InProcessStack, in_process_stack, set_task_fields

CANARY = "canary-3f9a61c2-never-read-back"
NOW = "2026-12-01T10:00:00.000000Z"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
V1_TASK_FIELDS = [
    "id",
    "task",
    "output",
    "status",
    "created_at",
    "finished_at",
    "steps",
    "live_url",
    "browser_data",
    "user_uploaded_files",
    "output_files",
    "public_share_url",
    "metadata",
]
OUR_TASK_FIELDS = [
    "structured_output",
    "is_success",
    "failure_reason",
    "steps_count",
    "cost_cents",
    "notes",
    "started_at",
]
UNKNOWN_ID = "task_00000000000000000000000000"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def _submit(stack: InProcessStack, key: str = ALICE_KEY, **body: Any) -> str:
    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "Read the title", **body}, key=key
    )
    assert response.status == 200, response.text
    return str(response.json()["id"])


def _png(label: str) -> bytes:
    # A PNG signature and a label: enough to tell the screenshots apart once downloaded.
    return b"\x89PNG\r\n\x1a\n" + label.encode()


def _media(stack: InProcessStack) -> S3MediaStore:
    return S3MediaStore(stack.environment["MEDIA_BUCKET"])


def _add_step(
    stack: InProcessStack, task_id: str, step: int, *, screenshot: bool = True, owner: str = "alice"
) -> None:
    key = None
    if screenshot:
        key = _media(stack).screenshot_key(owner, task_id, step)
        _media(stack).put(key, _png(f"step {step}"), "image/png")
    DynamoStepRepository(stack.environment["STEPS_TABLE"]).put(
        StepRecord(
            task_id=task_id,
            step=step,
            evaluation_previous_goal=f"evaluation {step}",
            memory=f"memory {step}",
            next_goal=f"goal {step}",
            actions=[{"wait": {"seconds": 1}}],
            url=f"https://example.com/{step}",
            screenshot_key=key,
            created_at=NOW,
        )
    )


def _finish(stack: InProcessStack, task_id: str, outcome: TaskOutcome, steps: int = 0) -> None:
    tasks = DynamoTaskRepository(stack.environment["TASKS_TABLE"])
    tasks.record_outcome(task_id, outcome, NOW)
    tasks.record_progress(task_id, steps, 1 + 3 * steps, NOW)
    set_task_fields(
        stack, task_id, status="finished", started_at="2026-12-01T09:59:00.000000Z", finished_at=NOW
    )


def _get(stack: InProcessStack, path: str, key: str = ALICE_KEY) -> Any:
    response = stack.call("GET", f"/api/v1{path}", key=key)
    assert response.status == 200, response.text
    return response.json()


def _download(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


# --- GET /task/{task_id} ---------------------------------------------------------------------


def test_a_finished_task_reads_back_in_the_v1_shape_and_our_extensions(
    stack: InProcessStack,
) -> None:
    # Given a finished structured task with an uploaded file, secrets, metadata and two steps
    _media(stack).put(upload_key("alice", "notes.txt"), b"hello", "text/plain")
    task_id = _submit(
        stack,
        structured_output_json=json.dumps(SCHEMA),
        included_file_names=["notes.txt"],
        secrets={"x_password": CANARY},
        metadata={"team": "qa"},
    )
    _add_step(stack, task_id, 2)  # stored out of order, as a replayed step may be
    _add_step(stack, task_id, 1)
    _finish(
        stack,
        task_id,
        TaskOutcome(
            output='{"title": "Example"}',
            structured_output='{"title": "Example"}',
            is_success=True,
            output_files=["report.csv"],
        ),
        steps=2,
    )
    DynamoTaskRepository(stack.environment["TASKS_TABLE"]).add_note(task_id, "a note")

    # When its owner reads it
    task = _get(stack, f"/task/{task_id}")

    # Then every v1 field comes first, then ours, and nothing else (no secret, token or flag)
    assert list(task) == V1_TASK_FIELDS + OUR_TASK_FIELDS
    assert CANARY not in json.dumps(task)
    assert task == {
        "id": task_id,
        "task": "Read the title",
        "output": '{"title": "Example"}',
        "status": "finished",
        "created_at": task["created_at"],
        "finished_at": NOW,
        "steps": [
            {
                "id": f"{task_id}-{n}",
                "step": n,
                "evaluation_previous_goal": f"evaluation {n}",
                "next_goal": f"goal {n}",
                "url": f"https://example.com/{n}",
            }
            for n in (1, 2)
        ],
        "live_url": f"/api/v1/live/{task_id}/{task['live_url'].rsplit('/', 1)[-1]}",
        "browser_data": None,
        "user_uploaded_files": ["notes.txt"],
        "output_files": ["report.csv"],
        "public_share_url": None,
        "metadata": {"team": "qa"},
        "structured_output": {"title": "Example"},
        "is_success": True,
        "failure_reason": None,
        "steps_count": 2,
        "cost_cents": 7,
        "notes": ["a note"],
        "started_at": "2026-12-01T09:59:00.000000Z",
    }
    assert task["created_at"].endswith("Z")


def test_a_new_task_reads_back_created_with_nothing_yet(stack: InProcessStack) -> None:
    task_id = _submit(stack)

    task = _get(stack, f"/task/{task_id}")

    assert task["status"] == "created"
    assert (task["steps"], task["steps_count"], task["output"]) == ([], 0, None)
    assert (task["structured_output"], task["finished_at"], task["started_at"]) == (None,) * 3
    assert (task["user_uploaded_files"], task["output_files"], task["notes"]) == ([], [], [])
    assert task["metadata"] == {}


def test_a_failed_task_says_why(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    set_task_fields(stack, task_id, status="failed", failure_reason="maximum steps reached")

    task = _get(stack, f"/task/{task_id}")

    assert (task["status"], task["failure_reason"]) == ("failed", "maximum steps reached")


def test_saved_browser_data_is_shown_decrypted_only_when_the_task_asked_to_save_it(
    stack: InProcessStack,
) -> None:
    store = BrowserStateStore(
        stack.environment["STATE_BUCKET"], KmsSecretsCipher(stack.environment["SECRETS_KEY_ARN"])
    )
    cookie = {"name": "session", "value": "s-123", "domain": "example.com", "path": "/"}
    saving = _submit(stack, save_browser_data=True)
    not_saving = _submit(stack)
    not_yet_saved = _submit(stack, save_browser_data=True)
    for task_id in (saving, not_saving):
        key = store.save("alice", task_browser_data_key("alice", task_id), {"cookies": [cookie]})
        _finish(stack, task_id, TaskOutcome(browser_data_key=key))

    assert _get(stack, f"/task/{saving}")["browser_data"] == {"cookies": [cookie]}
    assert _get(stack, f"/task/{not_saving}")["browser_data"] is None
    assert _get(stack, f"/task/{not_yet_saved}")["browser_data"] is None


# --- GET /tasks ------------------------------------------------------------------------------


def _list(stack: InProcessStack, query: str = "", key: str = ALICE_KEY) -> Any:
    return _get(stack, f"/tasks{query}", key=key)


def test_tasks_are_listed_newest_first_in_the_v1_shape(stack: InProcessStack) -> None:
    first = _submit(stack, task="first")
    second = _submit(stack, task="second")
    _finish(stack, first, TaskOutcome(output="done"))
    _submit(stack, key=BOB_KEY, task="bob's")

    page = _list(stack)

    assert list(page) == ["tasks", "total_pages", "page", "limit", "total_count"]
    assert (page["total_pages"], page["page"], page["limit"], page["total_count"]) == (1, 1, 10, 2)
    assert [t["id"] for t in page["tasks"]] == [second, first]
    assert page["tasks"][1] == {
        "id": first,
        "task": "first",
        "output": "done",
        "status": "finished",
        "created_at": page["tasks"][1]["created_at"],
        "finished_at": NOW,
        "live_url": _get(stack, f"/task/{first}")["live_url"],  # test_task_pages.py opens it
    }
    assert page["tasks"][1]["created_at"] < page["tasks"][0]["created_at"]


def test_pages_split_the_list_and_a_page_past_the_end_is_empty(stack: InProcessStack) -> None:
    ids = [_submit(stack, task=f"task {n}") for n in range(5)]
    newest_first = ids[::-1]

    by_one = [_list(stack, f"?page={n}&limit=1") for n in (1, 2, 5)]
    by_two = [_list(stack, f"?page={n}&limit=2") for n in (1, 2, 3)]
    past_the_end = _list(stack, "?page=4&limit=2")

    assert [[t["id"] for t in p["tasks"]] for p in by_one] == [
        [newest_first[0]],
        [newest_first[1]],
        [newest_first[4]],
    ]
    assert all((p["total_pages"], p["total_count"], p["limit"]) == (5, 5, 1) for p in by_one)
    assert [[t["id"] for t in p["tasks"]] for p in by_two] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
    ]
    assert [p["page"] for p in by_two] == [1, 2, 3]
    assert past_the_end == {
        "tasks": [],
        "total_pages": 3,
        "page": 4,
        "limit": 2,
        "total_count": 5,
    }
    assert _list(stack, "?limit=100")["total_pages"] == 1


def test_an_owner_without_tasks_gets_an_empty_list(stack: InProcessStack) -> None:
    _submit(stack)

    assert _list(stack, key=BOB_KEY) == {
        "tasks": [],
        "total_pages": 0,
        "page": 1,
        "limit": 10,
        "total_count": 0,
    }


def test_status_and_metadata_filters_must_all_match(stack: InProcessStack) -> None:
    # Given tasks alternating status and metadata, so filtered-out ones sit between matches
    ids = {}
    for n in range(6):
        team = "qa" if n % 2 == 0 else "ops"
        ids[n] = _submit(stack, metadata={"team": team, "run.id": f"r {n % 3}"})
        if n % 2 == 0:
            set_task_fields(stack, ids[n], status="finished")

    def listed(query: str) -> list[str]:
        page = _list(stack, query)
        assert page["total_count"] == len(page["tasks"])
        return [t["id"] for t in page["tasks"]]

    assert listed("?status=finished") == [ids[4], ids[2], ids[0]]
    assert listed("?status=created") == [ids[5], ids[3], ids[1]]
    assert listed("?metadata[team]=qa") == [ids[4], ids[2], ids[0]]
    # A key with a dot and a value with a space, URL-encoded as a client sends them
    assert listed(f"?{quote('metadata[run.id]')}={quote('r 1')}") == [ids[4], ids[1]]
    assert listed("?metadata[team]=qa&metadata[run.id]=r%201") == [ids[4]]
    assert listed("?status=created&metadata[run.id]=r%201") == [ids[1]]
    assert listed("?status=paused") == []
    assert listed("?metadata[team]=nobody") == []
    assert listed("?metadata[missing]=x") == []
    # Paging through a filter skips only matches
    second = _list(stack, "?status=finished&limit=1&page=2")
    assert ([t["id"] for t in second["tasks"]], second["total_count"], second["total_pages"]) == (
        [ids[2]],
        3,
        3,
    )


def _problem(response: Any) -> tuple[int, list[str | int] | None]:
    """A 422's status and the loc of its one problem (in the v1 shape), or the status alone."""
    if response.status != 422:
        return response.status, None
    (problem,) = response.json()["detail"]
    assert isinstance(problem["msg"], str)
    assert problem["msg"]
    assert problem["type"]
    return 422, problem["loc"]


def test_bad_list_parameters_are_422_in_the_v1_shape(stack: InProcessStack) -> None:
    _submit(stack)
    eleven_filters = "&".join(f"metadata[k{n}]=v" for n in range(11))
    expected: dict[str, list[str | int]] = {
        "?page=0": ["query", "page"],
        "?page=-1": ["query", "page"],
        "?page=two": ["query", "page"],
        "?limit=0": ["query", "limit"],
        "?limit=101": ["query", "limit"],
        "?status=done": ["query", "status"],
        "?metadata=qa": ["query", "metadata"],
        "?metadata[team=qa": ["query", "metadata[team"],
        "?metadata[]=qa": ["query", "metadata[]"],
        "?metadata[team]=qa&metadata[team]=ops": ["query", "metadata[team]"],
        f"?metadata[team]={'x' * 1001}": ["query", "metadata[team]"],
        f"?metadata[{'k' * 101}]=x": ["query", f"metadata[{'k' * 101}]"],
        f"?{eleven_filters}": ["query", "metadata"],
    }

    answers = {query: _problem(stack.call("GET", f"/api/v1/tasks{query}")) for query in expected}

    assert answers == {query: (422, loc) for query, loc in expected.items()}


# --- media -----------------------------------------------------------------------------------


def test_screenshots_are_presigned_urls_in_step_order_that_download(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    _add_step(stack, task_id, 3)
    _add_step(stack, task_id, 1)
    _add_step(stack, task_id, 2, screenshot=False)  # e.g. a step whose page never rendered

    urls = _get(stack, f"/task/{task_id}/screenshots")["screenshots"]

    assert [_download(url) for url in urls] == [_png("step 1"), _png("step 3")]
    (expires,) = parse_qs(urlsplit(urls[0]).query)["X-Amz-Expires"]
    assert expires == "900"  # the media_url_seconds default: 15 minutes


def test_media_urls_last_as_long_as_the_operator_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with in_process_stack(monkeypatch, parameters={"MediaUrlSeconds": "120"}) as stack:
        task_id = _submit(stack)
        _add_step(stack, task_id, 1)

        (url,) = _get(stack, f"/task/{task_id}/screenshots")["screenshots"]

    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]


def test_a_task_without_steps_has_no_screenshots(stack: InProcessStack) -> None:
    task_id = _submit(stack)

    assert _get(stack, f"/task/{task_id}/screenshots") == {"screenshots": []}


def test_the_gif_is_null_until_the_task_has_one_then_a_url_that_downloads(
    stack: InProcessStack,
) -> None:
    task_id = _submit(stack)
    assert _get(stack, f"/task/{task_id}/gif") == {"gif": None}

    gif_key = _media(stack).put(
        _media(stack).gif_key("alice", task_id), b"GIF89a-frames", "image/gif"
    )
    _finish(stack, task_id, TaskOutcome(gif_key=gif_key), steps=2)

    assert _download(_get(stack, f"/task/{task_id}/gif")["gif"]) == b"GIF89a-frames"


def test_media_lists_no_recordings(stack: InProcessStack) -> None:
    task_id = _submit(stack)

    assert _get(stack, f"/task/{task_id}/media") == {"recordings": []}


def test_an_output_file_downloads_by_its_name_even_with_spaces(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    names = ["report.csv", "report (1).csv"]
    for name in names:
        _media(stack).put(
            _media(stack).output_file_key("alice", task_id, name),
            f"content of {name}".encode(),
            "application/octet-stream",
        )
    _finish(stack, task_id, TaskOutcome(output_files=names))

    for name in names:
        answer = _get(stack, f"/task/{task_id}/output-file/{quote(name)}")
        assert list(answer) == ["download_url"]
        assert _download(answer["download_url"]) == f"content of {name}".encode()


def test_a_name_the_task_has_no_output_file_of_is_404(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    _finish(stack, task_id, TaskOutcome(output_files=["report.csv"]))
    # Stored under the task's prefix, but not one of its output files
    _media(stack).put(
        _media(stack).output_file_key("alice", task_id, "other.csv"), b"x", "text/csv"
    )

    response = stack.call("GET", f"/api/v1/task/{task_id}/output-file/other.csv")

    assert (response.status, response.json()) == (404, {"detail": "Output file not found"})


def test_an_output_file_name_that_is_not_a_plain_name_is_422(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    names = [
        "..%2Fother-task%2Ffiles%2Fx.csv",  # a path, encoded
        "..",
        "a%5Cb.csv",  # a backslash
        "x" * 252 + ".csv",  # 256 characters
    ]

    answers = {
        name: _problem(stack.call("GET", f"/api/v1/task/{task_id}/output-file/{name}"))
        for name in names
    }

    assert answers == {name: (422, ["path", "file_name"]) for name in names}


# --- every read: tenancy, keys, ids ----------------------------------------------------------

READS = [
    "/task/{id}",
    "/task/{id}/screenshots",
    "/task/{id}/gif",
    "/task/{id}/media",
    "/task/{id}/output-file/report.csv",
]


def test_another_owners_task_and_unknown_ids_are_404(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    _finish(stack, task_id, TaskOutcome(output_files=["report.csv"]))
    not_found = (404, {"detail": "Task not found"})

    def answer(path: str, key: str = ALICE_KEY) -> tuple[int, Any]:
        response = stack.call("GET", "/api/v1" + path, key=key)
        return response.status, response.json()

    assert {path: answer(path.format(id=task_id))[0] for path in READS} == dict.fromkeys(READS, 200)
    assert {path: answer(path.format(id=task_id), BOB_KEY) for path in READS} == dict.fromkeys(
        READS, not_found
    )
    assert {path: answer(path.format(id=UNKNOWN_ID)) for path in READS} == dict.fromkeys(
        READS, not_found
    )


def test_reads_need_a_valid_key(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    paths = [path.format(id=task_id) for path in ["/tasks", *READS]]
    wrong = {
        "no header": {},
        "unknown key": {"Authorization": "Bearer bt_not_a_key_of_anyone_here"},
        "wrong scheme": {"Authorization": f"Basic {ALICE_KEY}"},
    }

    answers = {
        (path, case): stack.call("GET", "/api/v1" + path, key=None, headers=headers)
        for path in paths
        for case, headers in wrong.items()
    }

    assert {where: r.status for where, r in answers.items()} == dict.fromkeys(answers, 401)
    assert all(isinstance(r.json()["detail"], str) for r in answers.values())


def test_a_task_id_longer_than_any_is_422(stack: InProcessStack) -> None:
    answers = {
        path: _problem(stack.call("GET", "/api/v1" + path.format(id="t" * 65))) for path in READS
    }

    assert answers == dict.fromkeys(READS, (422, ["path", "task_id"]))
