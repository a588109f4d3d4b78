"""The secret-canary sweep: the reliability suite plants ``CANARY`` as a task secret (tests use
``CANARY_SECRETS``) and this finds it wherever it should never be.

Without any test's help, every stack the suite starts is swept just before it stops (the
``BEFORE_STOP`` hooks of tests/local_stack_process.py and tests/support.py): every DynamoDB
item, S3 object, SQS message, SSM parameter and Step Functions execution in it
(tests/support.py ``every_stored_text``). Every request any scripted model receives is read as
it arrives: the model must see the secret's placeholder name, never its value. At the session's
end each local stack's whole log is written to a file and read too. A test that reads
something else the canary must not reach (an API answer, a delivered event) passes it to
``check_text``.
"""

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.scripted_llm import ScriptedLLM
from tests.local_stack_process import BEFORE_STOP as BEFORE_LOCAL_STACK_STOP
from tests.local_stack_process import LocalStackProcess
from tests.reliability.counts import CANARY, record_count
from tests.support import BEFORE_STOP as BEFORE_IN_PROCESS_STACK_STOP
from tests.support import InProcessStack, every_stored_text


def _canary_forms() -> tuple[str, ...]:
    """The canary as is, and base64-encoded at each of the three alignments it could have
    inside a longer encoded text (a plaintext secret stored base64'd is still a leak)."""
    encoded = []
    for offset in range(3):
        text = base64.b64encode(b"x" * offset + CANARY.encode()).decode()
        # Drop the characters that mix in the neighbouring bytes at either end.
        encoded.append(text[(4 * offset + 2) // 3 + 1 : -4])
    return (CANARY, *encoded)


CANARY_FORMS = _canary_forms()


@dataclass
class CanarySweep:
    log_dir: Path
    hits: list[str] = field(default_factory=list)
    texts_read: int = 0
    stacks_swept: int = 0
    model_requests: int = 0
    _local_stacks: list[LocalStackProcess] = field(default_factory=list)

    def check_text(self, where: str, text: str) -> None:
        self.texts_read += 1
        for form in CANARY_FORMS:
            if (at := text.find(form)) >= 0:
                self.hits.append(f"{where}: …{text[max(0, at - 80) : at + 120]!r}…")

    def sweep_local_stack(self, stack: LocalStackProcess) -> None:
        with _aws_of(stack):
            for where, text in every_stored_text():
                self.check_text(f"local stack {stack.api_url} {where}", text)
        self.stacks_swept += 1
        self._local_stacks.append(stack)  # its log is read once it has stopped

    def sweep_in_process_stack(self, _: InProcessStack) -> None:
        for where, text in every_stored_text():
            self.check_text(f"in-process stack {where}", text)
        self.stacks_swept += 1

    def read_model_request(self, raw: str) -> None:
        self.model_requests += 1
        self.check_text("a scripted model's request", raw)

    def read_logs(self) -> None:
        """Each local stack's log (its API, pollers, workers and Chromium), kept as a file."""
        for number, stack in enumerate(self._local_stacks, start=1):
            log_file = self.log_dir / f"local-stack-{number}.log"
            log_file.write_text(stack.log, encoding="utf-8")
            self.check_text(f"log {log_file}", log_file.read_text(encoding="utf-8"))


_active: CanarySweep | None = None


def check_text(where: str, text: str) -> None:
    """Fail the suite's sweep if ``text`` (something a test read: an answer, an event)
    holds the canary."""
    assert _active is not None, "the reliability suite's conftest starts the sweep"
    _active.check_text(where, text)


@contextmanager
def canary_sweep(log_dir: Path) -> Iterator[CanarySweep]:
    """Sweep every stack started and every model request received until exit."""
    global _active
    sweep = _active = CanarySweep(log_dir)
    BEFORE_LOCAL_STACK_STOP.append(sweep.sweep_local_stack)
    BEFORE_IN_PROCESS_STACK_STOP.append(sweep.sweep_in_process_stack)
    ScriptedLLM.request_observers.append(sweep.read_model_request)
    try:
        yield sweep
    finally:
        BEFORE_LOCAL_STACK_STOP.remove(sweep.sweep_local_stack)
        BEFORE_IN_PROCESS_STACK_STOP.remove(sweep.sweep_in_process_stack)
        ScriptedLLM.request_observers.remove(sweep.read_model_request)
        _active = None
        sweep.read_logs()
        record_count("stored texts swept", sweep.texts_read)


@contextmanager
def _aws_of(stack: LocalStackProcess) -> Iterator[None]:
    """boto3's default clients pointed at the local stack's AWS, for as long as the block runs."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": stack.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
