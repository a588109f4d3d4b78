"""The local stack: embedded AWS, the template's resources, the API on HTTP, queue pollers."""

import logging
import os
import threading
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests
from moto.server import ThreadedMotoServer

from browser_tasks.adapters import aws_clients
from browser_tasks.local.api_gateway import serve_api
from browser_tasks.local.execution_watch import ExecutionWatch
from browser_tasks.local.lambda_runtime import ContainerFunction, InProcessFunction, has_code
from browser_tasks.local.provision import FunctionSpec, Provisioner
from browser_tasks.local.queue_pollers import QueuePoller
from browser_tasks.local.scheduler import LocalScheduler
from browser_tasks.local.template import load_template
from browser_tasks.services import api_key_service, reset_services, utc_now

logger = logging.getLogger(__name__)

# Where local differs from AWS on purpose: model keys and proxy URLs come from this process's
# environment (OPENAI_API_KEY, PROXY_URLS, ...), not from the operator's SSM parameter.
LOCAL_FUNCTION_ENVIRONMENT = {
    "OPERATOR_SECRETS_PARAMETER": "",
    # Local test sites and the scripted model live on loopback, which Lambda's worker refuses.
    "BLOCK_PRIVATE_NETWORKS": "false",
}


# Functions that hide each message they report failed for as long as its retry should wait
# (the notifier's backoff): their pollers leave that delay alone, as Lambda does.
FUNCTIONS_THAT_DELAY_RETRIES = frozenset({"NotifierFunction"})
# The function whose instances ``LocalStackConfig.worker_concurrency`` multiplies.
WORKER_FUNCTION = "AgentWorkerFunction"
# The worker's leases, short locally so that a chunk whose worker died is back while you watch
# (in AWS: a 60 s heartbeat, a 150 s message lease). Its poller gives a dead worker's message
# back one message lease later, as Lambda does (when the lease last renewed runs out), not
# after ``retry_delay_seconds``: the dead worker's chunk lease, the shorter one
# (domain/chunk_leases.py), must lapse first, or the redelivery would find the chunk still
# held and be dropped.
WORKER_MESSAGE_LEASE_SECONDS = 10
LOCAL_WORKER_ENVIRONMENT = {
    "HEARTBEAT_SECONDS": "2",
    "MESSAGE_LEASE_SECONDS": str(WORKER_MESSAGE_LEASE_SECONDS),
}


@dataclass
class LocalStackConfig:
    project_root: Path
    host: str = "127.0.0.1"
    port: int = 8000
    aws_port: int = 0  # 0: the API port + 1
    stack_name: str = "browser-tasks"
    region: str = "us-east-1"
    api_key: str | None = None  # None: a new one is minted and printed
    owner: str = "local"
    retry_delay_seconds: int = 2
    parameter_overrides: dict[str, str] = field(default_factory=dict)  # template Parameters
    extra_environment: dict[str, str] = field(default_factory=dict)
    # AgentWorker instances running at once, each its own process (Chromium and all), as Lambda
    # runs up to the work queue's MaximumConcurrency. 1 by default: a laptop runs one at a time.
    worker_concurrency: int = 1

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port or self.port + 1}"


class LocalStack:
    def __init__(self, config: LocalStackConfig) -> None:
        self.config = config
        self.api_key = ""
        self.functions: dict[str, FunctionSpec] = {}
        self.resources: dict[str, str] = {}
        self.containers: dict[str, ContainerFunction] = {}
        self._moto: ThreadedMotoServer | None = None
        self._pollers: list[QueuePoller] = []
        self._execution_watch: ExecutionWatch | None = None
        self._scheduler: LocalScheduler | None = None
        self._api_server_thread: threading.Thread | None = None
        self._api_server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}/api/v1"

    def start(self) -> None:
        config = self.config
        aws_port = int(config.aws_endpoint.rsplit(":", 1)[1])
        os.environ.update(
            {
                # The embedded AWS answers every client of this process and its children.
                "AWS_ENDPOINT_URL": config.aws_endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": config.region,
                "AWS_REGION": config.region,
                # moto's Step Functions engine calls SQS/DynamoDB/EventBridge on this port.
                "MOTO_PORT": str(aws_port),
                "POWERTOOLS_TRACE_DISABLED": "true",
                # browser-use (in the worker): nothing phones home, as in the image.
                "ANONYMIZED_TELEMETRY": "false",
                "BROWSER_USE_VERSION_CHECK": "false",
                "BROWSER_USE_CLOUD_SYNC": "false",
                # Metrics stay on: Powertools 3.37 with POWERTOOLS_METRICS_DISABLED never clears
                # its buffer and prints it every 100 values. EMF lines are what Lambda logs too.
                **config.extra_environment,
            }
        )
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address=config.host, port=aws_port, verbose=False)
        self._moto.start()
        requests.post(
            f"{config.aws_endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()

        provisioner = Provisioner(
            load_template(config.project_root / "template.yaml"),
            config.project_root,
            config.stack_name,
            config.region,
            config.parameter_overrides,
        )
        self.resources = provisioner.provision_all()
        self.functions = {
            name: replace(
                spec,
                environment={
                    **spec.environment,
                    **LOCAL_FUNCTION_ENVIRONMENT,
                    **(LOCAL_WORKER_ENVIRONMENT if name == WORKER_FUNCTION else {}),
                },
            )
            for name, spec in provisioner.functions.items()
        }
        for spec in self.functions.values():
            # Functions share this process's environment; their variables agree (Globals)
            # except the service name, which each module picks up as it is imported.
            os.environ.update(
                {k: v for k, v in spec.environment.items() if k != "POWERTOOLS_SERVICE_NAME"}
            )
        reset_services()
        self.api_key = config.api_key or api_key_service().mint(config.owner)
        if config.api_key:
            api_key_service().register(config.api_key, config.owner)

        self._start_pollers()
        self._start_api()
        self._start_execution_watch()
        # moto's Scheduler never fires the schedules the API creates: this does, every ~5 s.
        self._scheduler = LocalScheduler(utc_now, config.region, self.resources["ScheduleGroup"])
        self._scheduler.start()

    def stop(self) -> None:
        # First: shutting down aborts the executions still running (below), and the tasks of
        # those must not be failed by the guard on the way out.
        if self._execution_watch is not None:
            self._execution_watch.stop()
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._api_server is not None:
            self._api_server.shutdown()
        for poller in self._pollers:
            poller.stop()
        for container in self.containers.values():
            container.stop()
        self._stop_executions()
        if self._moto is not None:
            self._moto.stop()

    def _start_api(self) -> None:
        api_specs = [s for s in self.functions.values() if s.logical_id == "ApiFunction"]
        if not api_specs:
            raise RuntimeError("template.yaml declares no ApiFunction")
        api = InProcessFunction(api_specs[0])
        server = serve_api(self.config.host, self.config.port, api.invoke)
        self._api_server = server
        self._api_server_thread = threading.Thread(
            target=server.serve_forever, name="api", daemon=True
        )
        self._api_server_thread.start()

    def _start_execution_watch(self) -> None:
        # On AWS an EventBridge rule invokes the guard; moto can do neither half (see the module).
        guard = self.functions.get("ExecutionGuardFunction")
        if guard is None:
            raise RuntimeError("template.yaml declares no ExecutionGuardFunction")
        self._execution_watch = ExecutionWatch(
            self.resources["TaskStateMachine"], InProcessFunction(guard), self.config.region
        )
        self._execution_watch.start()

    def _start_pollers(self) -> None:
        for spec in self.functions.values():
            if not spec.queue_sources:
                continue
            if not has_code(spec):
                logger.warning(
                    "%s has no code at %s yet: its queue is not polled",
                    spec.logical_id,
                    spec.code_dir,
                )
                continue
            instances = self.config.worker_concurrency if spec.logical_id == WORKER_FUNCTION else 1
            for instance in range(instances):
                # One poller per instance, each feeding its own container: a poller waits
                # for its invocation, so N of them keep at most N invocations in flight.
                name = spec.logical_id if instance == 0 else f"{spec.logical_id}#{instance + 1}"
                container = ContainerFunction(spec, spec.environment)
                self.containers[name] = container
                for source in spec.queue_sources:
                    poller = QueuePoller(
                        name,
                        source,
                        container,
                        self.config.region,
                        retry_delay_seconds=(
                            WORKER_MESSAGE_LEASE_SECONDS
                            if spec.logical_id == WORKER_FUNCTION
                            else self.config.retry_delay_seconds
                        ),
                        function_delays_retries=spec.logical_id in FUNCTIONS_THAT_DELAY_RETRIES,
                    )
                    poller.start()
                    self._pollers.append(poller)

    def _stop_executions(self) -> None:
        # moto's execution threads outlive a stopped server unless their executions end.
        client = aws_clients.stepfunctions()
        try:
            for machine in client.list_state_machines()["stateMachines"]:
                running = client.list_executions(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                )["executions"]
                for execution in running:
                    client.stop_execution(executionArn=execution["executionArn"])
        except Exception:  # best effort on the way out
            logger.debug("Could not stop executions", exc_info=True)
