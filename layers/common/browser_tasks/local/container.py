"""The child side of ``ContainerFunction``: import the handler once, then serve events.

Protocol: one JSON event per line on stdin; one JSON line ``{"result": ...}`` or
``{"error": "..."}`` per event on the real stdout. Everything the function prints goes to
stderr, so logs can never be mistaken for a result.
"""

import json
import os
import sys
import traceback
from pathlib import Path

from browser_tasks.local.lambda_runtime import LocalLambdaContext, handler_path, load_module
from browser_tasks.local.provision import FunctionSpec


def main() -> None:
    raw = json.loads(os.environ["LOCAL_FUNCTION_SPEC"])
    spec = FunctionSpec(
        logical_id=raw["logical_id"],
        code_dir=Path(raw["code_dir"]),
        handler=raw["handler"],
        environment=dict(os.environ),
        timeout_seconds=raw["timeout_seconds"],
        queue_sources=(),
    )
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the function's prints become logs
    handler = getattr(load_module(spec), handler_path(spec)[1])
    for line in sys.stdin:
        context = LocalLambdaContext(spec.logical_id, spec.timeout_seconds)
        try:
            answer = {"result": handler(json.loads(line), context)}
        except Exception as error:  # report it the way Lambda does: the invocation failed
            traceback.print_exc()
            answer = {"error": f"{type(error).__name__}: {error}"}
        results.write(json.dumps(answer, default=str) + "\n")
        results.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the stack is shutting down
        sys.exit(0)
