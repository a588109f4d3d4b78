"""A small typed client of the v1 task API over HTTP (``requests``), as the ``browser-tasks``
caller commands use it. Answers are parsed into the same models the API answers with.

Developer tooling like the CLI: ``requests`` comes with the ``client`` extra, not the layer.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from browser_tasks.models.run_task import TaskCreated
from browser_tasks.models.task import TaskStatus
from browser_tasks.models.task_view import OutputFileUrl, TaskPage, TaskView

DOWNLOAD_CHUNK_BYTES = 1 << 16

Model = TypeVar("Model", bound=BaseModel)


class ApiError(Exception):
    """The API answered an error, or could not be reached (``status`` is then None).

    ``detail`` is v1's: a message, or for a validation error a list of ``{loc, msg, type}``.
    """

    def __init__(self, status: int | None, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line per problem, each validation error as ``where: what``."""
        prefix = f"HTTP {self.status}: " if self.status is not None else ""
        if isinstance(self.detail, list) and all(isinstance(p, dict) for p in self.detail):
            problems = [
                f"{'.'.join(str(part) for part in p.get('loc', []))}: {p.get('msg', p)}"
                for p in self.detail
            ]
            return prefix + "\n  ".join(["invalid request", *problems])
        return prefix + str(self.detail)


class BrowserTasksClient:
    """The routes of ``/api/v1`` a caller uses, one method each.

    Every method raises ``ApiError`` for an error answer, an unreachable endpoint or an
    answer of the wrong shape.
    """

    def __init__(self, endpoint: str, api_key: str | None = None, *, timeout: float = 30) -> None:
        """``endpoint``: the API's base URL, e.g. ``http://127.0.0.1:8000/api/v1``."""
        self.endpoint = endpoint.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def run_task(self, request: Mapping[str, Any]) -> str:
        """Submit a task (the fields of ``RunTaskRequest``); its id."""
        return self._call("POST", "/run-task", TaskCreated, json=dict(request)).id

    def task(self, task_id: str) -> TaskView:
        return self._call("GET", f"/task/{_segment(task_id)}", TaskView)

    def tasks(
        self,
        *,
        page: int = 1,
        limit: int = 10,
        status: TaskStatus | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> TaskPage:
        """One page of the caller's tasks, newest first; ``status`` and ``metadata`` filter."""
        params: dict[str, str | int] = {"page": page, "limit": limit}
        if status is not None:
            params["status"] = status.value
        params.update({f"metadata[{key}]": value for key, value in (metadata or {}).items()})
        return self._call("GET", "/tasks", TaskPage, params=params)

    def stop(self, task_id: str) -> None:
        self._json("PUT", "/stop-task", params={"task_id": task_id})

    def pause(self, task_id: str) -> None:
        self._json("PUT", "/pause-task", params={"task_id": task_id})

    def resume(self, task_id: str) -> None:
        self._json("PUT", "/resume-task", params={"task_id": task_id})

    def output_file_url(self, task_id: str, file_name: str) -> str:
        """A presigned URL of one of the task's output files."""
        path = f"/task/{_segment(task_id)}/output-file/{_segment(file_name)}"
        return self._call("GET", path, OutputFileUrl).download_url

    def download(self, url: str, destination: Path) -> int:
        """Fetch a presigned URL into ``destination``; the bytes written.

        Not through the session: the API key is for the API, never sent to the storage host.
        """
        try:
            with requests.get(url, stream=True, timeout=self._timeout) as response:
                if not response.ok:
                    raise ApiError(response.status_code, f"download failed: {response.reason}")
                written = 0
                with destination.open("wb") as file:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                        written += file.write(chunk)
                return written
        except requests.RequestException as error:
            raise ApiError(None, f"download failed: {error}") from None

    def _call(self, method: str, path: str, answer: type[Model], **kwargs: Any) -> Model:
        body = self._json(method, path, **kwargs)
        try:
            return answer.model_validate(body)
        except ValidationError as error:
            raise ApiError(
                None, f"unexpected answer from {method} {path}: {error.error_count()} problem(s)"
            ) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.endpoint + path
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            raise ApiError(None, f"cannot reach {self.endpoint}: {error}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            raise ApiError(response.status_code, _detail(body, response))
        return body


def _segment(value: str) -> str:
    """One path segment, encoded (a file name may hold spaces or '+')."""
    return quote(value, safe="")


def _detail(body: Any, response: requests.Response) -> Any:
    """v1's ``detail``; API Gateway's own errors (429, 502, 504) say ``message`` instead."""
    if isinstance(body, dict):
        for key in ("detail", "message"):
            if key in body:
                return body[key]
    return response.text.strip() or response.reason
