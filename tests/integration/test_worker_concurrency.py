"""``browser-tasks local --worker-concurrency N``: N AgentWorker instances run at once.

Given a stack with two worker instances and two tasks submitted together, then both run side
by side — each in its own worker process with its own Chromium — rather than one after the
other as a single instance would run them (the queue holds the second until the first ends).
"""

from typing import Any

import psutil

from tests.fakes import ScriptedLLM, TestSite
from tests.fakes.scripted_llm import agent_step_number
from tests.local_stack_process import local_stack_process
from tests.task_world import TaskWorld

API_KEY = "bt_local_test_concurrency_key_012345"


def test_two_tasks_run_at_once_with_two_worker_instances() -> None:
    with ScriptedLLM() as llm, TestSite() as site:
        # By the agent's own step number, so the two tasks' requests may interleave freely.
        script = {
            1: [{"navigate": {"url": site.url("/page?title=One")}}],
            2: [{"wait": 3}],
            3: [{"wait": 3}],
        }
        llm.set_script(
            lambda request, _served: script.get(
                agent_step_number(request) or 0, [{"done": {"text": "ok", "success": True}}]
            )
        )
        environment = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-scripted"}
        with local_stack_process(API_KEY, extra_env=environment, worker_concurrency=2) as stack:
            world = TaskWorld(stack, llm, site)
            body: dict[str, Any] = {"task": "Open the page and wait", "max_agent_steps": 6}
            first, second = world.submit(body), world.submit(body)

            world.wait_for_steps(first, 1)
            world.wait_for_steps(second, 1)
            # One instance would still be running the first task's waits: the second's first
            # step could only come after the first task ended.
            assert world.status(first) == "running"
            assert world.status(second) == "running"
            workers = [
                child
                for child in psutil.Process(stack.process.pid).children(recursive=True)
                if "AgentWorkerFunction" in " ".join(child.cmdline())
            ]
            assert len(workers) == 2, [w.cmdline() for w in workers]

            assert world.wait_until_ended(first) == "finished"
            assert world.wait_until_ended(second) == "finished"
