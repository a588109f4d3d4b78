"""Downloads become output files once each, redacted, under the task's prefix."""

from pathlib import Path
from typing import Any

from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.domain.redaction import Redactor
from browser_tasks.models.task import TaskRecord, TaskStatus


class MemoryMedia(S3MediaStore):
    def __init__(self) -> None:
        super().__init__("bucket")
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self.objects[key] = data
        return key


def test_a_second_copy_of_a_download_is_dropped_and_text_is_redacted(tmp_path: Path) -> None:
    import chunk_runner

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "report (1).csv").write_bytes(b"id,pin\n1,4242\n")
    (downloads / "report.csv").write_bytes(b"id,pin\n1,4242\n")
    (downloads / "other.csv").write_bytes(b"something else")
    media = MemoryMedia()
    ports: Any = chunk_runner.WorkerPorts(
        tasks=None,
        steps=None,
        media=media,
        browser_state=None,
        cipher=None,
        callbacks=None,  # type: ignore[arg-type]
    )
    runner = chunk_runner.ChunkRunner(ports, None, None)  # type: ignore[arg-type]
    task = TaskRecord(
        task_id="task_1",
        owner="alice",
        task="t",
        status=TaskStatus.RUNNING,
        created_at="",
        settings={},
    )

    stored = runner._store_output_files(task, downloads, Redactor({"pin": "4242"}))

    assert stored == ["other.csv", "report.csv"]
    assert (
        media.objects["tasks/alice/task_1/files/report.csv"] == b"id,pin\n1,<secret>pin</secret>\n"
    )
    assert set(media.objects) == {
        "tasks/alice/task_1/files/other.csv",
        "tasks/alice/task_1/files/report.csv",
    }
