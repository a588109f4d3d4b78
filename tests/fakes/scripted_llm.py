"""A scripted, OpenAI-compatible chat completions server for driving the real browser-use Agent.

Stdlib only. ``ScriptedLLM`` answers ``POST /v1/chat/completions`` (and ``GET /v1/models``) the
way browser-use's ``ChatOpenAI`` expects: a ``chat.completion`` whose message content is the JSON
of the ``response_format`` schema it was sent, plus a ``usage`` block.

    script = [
        [{"navigate": {"url": site.url("/login")}}],
        [
            {"input": {"field": "username", "text": "<secret>x_user</secret>"}},
            {"input": {"field": "password", "text": "<secret>x_password</secret>"}},
            {"click": {"text": "Submit"}},
        ],
        [{"done": {"text": "Logged in", "success": True}}],
    ]
    with ScriptedLLM(script) as llm:
        ChatOpenAI(model="gpt-4.1", base_url=llm.base_url, api_key="test")

Each agent-step request consumes the next script step. A step is a list of actions, or a dict
``{"actions": [...], "thinking": ..., "evaluation_previous_goal": ..., "memory": ...,
"next_goal": ...}``, or ``{"raw": "<content sent verbatim>"}``. The script may instead be a
callable ``(request_json, step_number) -> step`` (``step_number`` counts agent-step replies
served, from 1). An exhausted script answers ``done`` with ``success: false``.

Actions are ``{name: params}`` in browser-use 0.13's own names (navigate, click, input,
upload_file, select_dropdown, dropdown_options, extract, scroll, send_keys, go_back, wait, switch,
close, search_page, find_elements, evaluate, screenshot, write_file, done, ...). Params pass
through, except that an element is found in the browser state of the latest user message and
its ``index`` filled in when the params name it by:

- ``text``: the element's visible text (``click`` only; for ``input``/``select_dropdown``
  ``text`` is the value to type or choose): exact match (case and space insensitive) first,
  then substring;
- ``field``: an attribute value (id, name, type, placeholder, aria-label, title, alt, value...),
  then the label text just before the element;
- ``label``: the text just before the element (``<label>`` text usually);
- ``tag``: restricts to a tag name; ``attrs``: ``{"placeholder": "Email"}`` exact attributes;
- ``element``: a dict of the keys above, when they would clash with the action's own params.

Shorthands: ``{"navigate": url}``, ``{"click": "visible text"}``, ``{"extract": query}``,
``{"send_keys": keys}``, ``{"wait": seconds}``, ``{"scroll": "down" | "up"}``,
``{"done": "text"}``. ``done`` accepts ``text``/``success`` or, for an Agent with
``output_model_schema``, ``data``/``success``.

If an element cannot be found, or an action is not offered by the request's schema, the reply
is a ``done`` with ``success: false`` whose text names what was missing (also kept in
``.errors``), never a server crash.

Requests that are not agent steps are recognised and answered: browser-use's extraction call
(``extract``; by default the page content it was given, or the configured ``extraction_answer``;
for a structured extraction, rows of a markdown table mapped onto the schema), the judge
(``judge_verdict``), and any other call (``text_answer``, or a schema-shaped minimal value).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

Step = list[Any] | dict[str, Any]
ScriptFn = Callable[[dict[str, Any], int], Step]
Answer = str | dict[str, Any] | list[Any] | Callable[[dict[str, Any]], Any]

AGENT_FIELDS = ("thinking", "evaluation_previous_goal", "memory", "next_goal")
TARGET_KEYS = ("index", "text", "field", "label", "tag", "attrs", "element")
# Actions whose ``text`` param names the element; elsewhere ``text`` is a value to type/choose.
TEXT_TARGETS = {"click"}
SHORTHAND = {
    "navigate": "url",
    "click": "text",
    "extract": "query",
    "send_keys": "keys",
    "wait": "seconds",
    "done": "text",
    "search_page": "pattern",
    "find_elements": "selector",
    "evaluate": "code",
}

_ELEMENT_LINE = re.compile(
    r"^(?P<indent>\t*)(?:\|SHADOW\((?:open|closed)\)\|)?(?P<new>\*)?"
    r"(?:\|scroll element)?\[(?P<index>\d+)\]<(?P<tag>[\w-]+)(?P<attrs>.*?)\s*/>"
)
_ATTR = re.compile(r"(?:^|\s)([\w:.-]+)=('[^']*'|.*?)(?=\s[\w:.-]+=|$)")
_STEP_INFO = re.compile(r"<step_info>\s*Step\s*(\d+)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Reading a request
# ---------------------------------------------------------------------------------------------


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def system_text(request: dict[str, Any]) -> str:
    """The text of the request's first system (or developer) message."""
    for message in request.get("messages", []):
        if message.get("role") in ("system", "developer"):
            return _message_text(message)
    return ""


def latest_user_text(request: dict[str, Any]) -> str:
    """The text of the latest user message that carries a browser state (else the last one)."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    for message in reversed(users):
        text = _message_text(message)
        if "<browser_state>" in text:
            return text
    return _message_text(users[-1]) if users else ""


def browser_state_text(request: dict[str, Any]) -> str:
    """What is inside ``<browser_state>...</browser_state>`` of the latest user message."""
    text = latest_user_text(request)
    start = text.rfind("<browser_state>")
    if start < 0:
        return ""
    end = text.find("</browser_state>", start)
    return text[start + len("<browser_state>") : end if end >= 0 else len(text)].strip("\n")


def agent_step_number(request: dict[str, Any]) -> int | None:
    """The agent's own step number (1-based) from ``<step_info>``, if present."""
    match = _STEP_INFO.search(latest_user_text(request))
    return int(match.group(1)) if match else None


def _tagged(text: str, tag: str) -> str | None:
    start = text.find(f"<{tag}>")
    if start < 0:
        return None
    end = text.find(f"</{tag}>", start)
    return text[start + len(tag) + 2 : end if end >= 0 else len(text)].strip("\n")


def _schema_of(request: dict[str, Any]) -> dict[str, Any] | None:
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        if isinstance(schema, dict):
            return schema
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        params = tools[0].get("function", {}).get("parameters")
        if isinstance(params, dict):
            return params
    return None


# ---------------------------------------------------------------------------------------------
# The serialized DOM
# ---------------------------------------------------------------------------------------------


@dataclass
class Element:
    """One interactive element of the browser state: ``[index]<tag attrs />`` and its text."""

    index: int
    tag: str
    attrs: dict[str, str]
    text: str = ""
    label: str = ""
    line: str = ""
    is_new: bool = False
    depth: int = 0
    _texts: list[str] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        attrs = " ".join(f"{k}={v}" for k, v in self.attrs.items())
        text = f" {self.text!r}" if self.text else ""
        return f"[{self.index}]<{self.tag}{' ' + attrs if attrs else ''}>{text}"


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse_elements(state: str) -> list[Element]:
    """The interactive elements of a serialized browser state, in order."""
    lines = state.splitlines()
    if "Interactive elements:" in lines:
        lines = lines[lines.index("Interactive elements:") + 1 :]
    elements: list[Element] = []
    open_elements: list[Element] = []
    last_text = ""
    for raw in lines:
        depth = len(raw) - len(raw.lstrip("\t"))
        match = _ELEMENT_LINE.match(raw)
        # Elements whose subtree has ended stop collecting text.
        open_elements = [e for e in open_elements if depth > e.depth]
        if match:
            attrs = {
                key: value.strip("'") for key, value in _ATTR.findall(match.group("attrs").strip())
            }
            element = Element(
                index=int(match.group("index")),
                tag=match.group("tag").lower(),
                attrs=attrs,
                label=last_text,
                line=raw.strip(),
                is_new=bool(match.group("new")),
                depth=depth,
            )
            elements.append(element)
            open_elements.append(element)
            continue
        text = raw.strip()
        if not text or text in ("[Start of page]", "[End of page]") or text.startswith("|"):
            continue
        if text in ("Open Shadow", "Closed Shadow", "Shadow End") or text.startswith("<"):
            continue
        last_text = text
        for element in open_elements:
            element._texts.append(text)
    for element in elements:
        element.text = " ".join(element._texts)
    return elements


class Unresolved(Exception):
    """An element the script named is not in the browser state."""


def resolve_element(elements: list[Element], target: dict[str, Any]) -> Element:
    """The element ``target`` names (see the module docstring), or ``Unresolved``."""
    candidates = elements
    if "index" in target and target["index"] is not None:
        found = [e for e in elements if e.index == int(target["index"])]
        if not found:
            raise Unresolved(f"no element with index {target['index']}")
        return found[0]
    if target.get("tag"):
        candidates = [e for e in candidates if e.tag == str(target["tag"]).lower()]
    if target.get("attrs"):
        wanted = {str(k).lower(): _norm(str(v)) for k, v in target["attrs"].items()}
        candidates = [
            e for e in candidates if all(_norm(e.attrs.get(k, "")) == v for k, v in wanted.items())
        ]
    tiers: list[list[Element]] = []
    if target.get("text") is not None:
        want = _norm(str(target["text"]))
        tiers += [
            [e for e in candidates if _norm(e.text) == want],
            [e for e in candidates if _norm(e.attrs.get("value", "")) == want],
            [e for e in candidates if _norm(e.attrs.get("aria-label", "")) == want],
            [e for e in candidates if want and want in _norm(e.text)],
        ]
    elif target.get("field") is not None:
        want = _norm(str(target["field"]))
        preferred = ("id", "name", "placeholder", "aria-label", "title")
        tiers += [
            [e for e in candidates if any(_norm(e.attrs.get(k, "")) == want for k in preferred)],
            [e for e in candidates if any(_norm(v) == want for v in e.attrs.values())],
            [e for e in candidates if _norm(e.label) == want],
            [e for e in candidates if want and want in _norm(e.label)],
        ]
    elif target.get("label") is not None:
        want = _norm(str(target["label"]))
        tiers += [
            [e for e in candidates if _norm(e.label) == want],
            [e for e in candidates if want and want in _norm(e.label)],
        ]
    else:
        tiers.append(candidates)
    for tier in tiers:
        if tier:
            return tier[0]
    named = {k: v for k, v in target.items() if k != "element"}
    raise Unresolved(f"no element matching {json.dumps(named, sort_keys=True)}")


# ---------------------------------------------------------------------------------------------
# JSON Schema helpers
# ---------------------------------------------------------------------------------------------


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = str(schema["$ref"])
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node if isinstance(node, dict) else {}
    return schema


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The smallest value that validates against ``schema`` (required fields only, zeros)."""
    root = root if root is not None else schema
    schema = _deref(schema, root)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [_deref(s, root) for s in schema[key]]
            for option in options:
                if option.get("type") == "null":
                    return None
            return minimal_instance(options[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {
            name: minimal_instance(props[name], root)
            for name in schema.get("required", [])
            if name in props
        }
    if kind == "array":
        items = schema.get("items", {})
        count = int(schema.get("minItems", 0))
        return [minimal_instance(items, root) for _ in range(count)]
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "null": None}.get(str(kind))


def _action_schemas(agent_schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Action name -> its params schema, from an AgentOutput schema."""
    action = _deref(agent_schema.get("properties", {}).get("action", {}), agent_schema)
    items = _deref(action.get("items", {}), agent_schema)
    options = items.get("anyOf") or items.get("oneOf") or [items]
    found: dict[str, dict[str, Any]] = {}
    for option in options:
        option = _deref(option, agent_schema)
        for name, params in option.get("properties", {}).items():
            found[name] = _deref(params, agent_schema)
    return found


def _coerce(value: str, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = _deref(schema, root)
    kinds = [schema.get("type")] + [_deref(s, root).get("type") for s in schema.get("anyOf", [])]
    cleaned = value.strip()
    if "number" in kinds or "integer" in kinds:
        number = re.sub(r"[^0-9.\-]", "", cleaned)
        try:
            parsed = float(number)
        except ValueError:
            return None if "null" in kinds else 0
        return int(parsed) if "integer" in kinds and "number" not in kinds else parsed
    if "boolean" in kinds:
        return cleaned.lower() in ("true", "yes", "1")
    return cleaned


def markdown_tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every pipe table in ``markdown`` as a list of {header: cell} rows."""
    tables: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                block.append(cells)
            continue
        if len(block) >= 2:
            header = block[0]
            tables.append([dict(zip(header, row, strict=False)) for row in block[1:]])
        block = []
    return tables


def _fill_from_tables(schema: dict[str, Any], markdown: str) -> Any:
    """A best-effort structured answer: the first array-of-objects property from a table."""
    value = minimal_instance(schema)
    if not isinstance(value, dict):
        return value
    tables = markdown_tables(markdown)
    for name, prop in schema.get("properties", {}).items():
        prop = _deref(prop, schema)
        if prop.get("type") != "array":
            continue
        item = _deref(prop.get("items", {}), schema)
        item_props = item.get("properties", {})
        for table in tables:
            headers = {_norm(h): h for h in table[0]} if table else {}
            mapping = {p: headers[_norm(p)] for p in item_props if _norm(p) in headers}
            if not mapping:
                continue
            rows = []
            for row in table:
                obj = minimal_instance(item, schema)
                for prop_name, header in mapping.items():
                    obj[prop_name] = _coerce(row.get(header, ""), item_props[prop_name], schema)
                rows.append(obj)
            value[name] = rows
            break
    return value


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class ScriptedLLM:
    """An OpenAI-compatible chat completions server that plays a script to browser-use."""

    # Called with the raw text of every request any instance receives (``reset`` forgets
    # requests, these do not): the reliability suite checks the model never sees its canary.
    request_observers: ClassVar[list[Callable[[str], None]]] = []

    def __init__(
        self,
        script: Iterable[Step] | ScriptFn | None = None,
        *,
        model: str | None = None,
        host: str = "127.0.0.1",
        extraction_answer: Answer | None = None,
        judge_verdict: bool = True,
        text_answer: str = "Scripted answer.",
        latency: float = 0.0,
    ) -> None:
        """``model``: the name echoed back (default: whatever the request asked for)."""
        self._lock = threading.Lock()
        self._script: list[Step] | ScriptFn = []
        self.set_script(script)
        self.model = model
        self.extraction_answer = extraction_answer
        self.judge_verdict = judge_verdict
        self.text_answer = text_answer
        self.latency = latency
        self._requests: list[dict[str, Any]] = []
        self._texts: list[str] = []
        self._kinds: list[str] = []
        self.replies: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.steps_served = 0
        self._faults: list[tuple[str, int, float | None]] = []
        handler = type("_BoundHandler", (_Handler,), {"llm": self})
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ScriptedLLM:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- public API -------------------------------------------------------------------------

    def set_script(self, script: Iterable[Step] | ScriptFn | None) -> None:
        """Replace the script; the step counter is not reset (see ``reset``)."""
        with self._lock:
            self._script = script if callable(script) else list(script or [])

    def reset(self) -> None:
        """Forget requests, replies, errors, faults and the step counter."""
        with self._lock:
            self._requests.clear()
            self._texts.clear()
            self._kinds.clear()
            self.replies.clear()
            self.errors.clear()
            self._faults.clear()
            self.steps_served = 0

    def fail_next(self, n: int = 1, status: int = 500, *, retry_after: float | None = None) -> None:
        """The next ``n`` requests get HTTP ``status`` (an OpenAI-style error body).

        ``retry_after`` (seconds) adds ``Retry-After``/``retry-after-ms`` headers, which the
        OpenAI client honours instead of its own backoff."""
        with self._lock:
            self._faults.extend([("status", status, retry_after)] * n)

    def garbage_next(self, n: int = 1) -> None:
        """The next ``n`` requests get HTTP 200 whose message content is not valid JSON."""
        with self._lock:
            self._faults.extend([("garbage", 200, None)] * n)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received (parsed JSON), in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def request_texts(self) -> list[str]:
        """The raw text of every request body, in order (JSON: non-ASCII may be escaped)."""
        with self._lock:
            return list(self._texts)

    def requests_containing(self, value: str) -> list[int]:
        """Indices of the requests whose raw text holds ``value``, as is or JSON-escaped."""
        forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        return [i for i, text in enumerate(self.request_texts()) if any(f in text for f in forms)]

    def requests_of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Requests classified as ``agent_step``, ``extraction``, ``judge`` or ``other``."""
        with self._lock:
            return [r for r, k in zip(self._requests, self._kinds, strict=True) if k == kind]

    @property
    def agent_requests(self) -> list[dict[str, Any]]:
        return self.requests_of_kind("agent_step")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- answering --------------------------------------------------------------------------

    @staticmethod
    def classify(request: dict[str, Any]) -> str:
        """``agent_step``, ``extraction``, ``judge`` or ``other``."""
        schema = _schema_of(request) or {}
        props = schema.get("properties", {})
        system = system_text(request)
        if "action" in props:
            return "agent_step"
        if system.startswith("You are an expert at extracting"):
            return "extraction"
        if "verdict" in props or system.startswith("You are an expert judge"):
            return "judge"
        user = latest_user_text(request)
        if system.startswith("You are an AI agent designed to operate") or (
            "<browser_state>" in user and "<agent_history>" in user
        ):
            return "agent_step"
        return "other"

    def _record(self, raw: str, request: dict[str, Any]) -> tuple[str, tuple[str, int, Any] | None]:
        for observe in self.request_observers:
            observe(raw)
        kind = self.classify(request)
        with self._lock:
            self._requests.append(request)
            self._texts.append(raw)
            self._kinds.append(kind)
            fault = self._faults.pop(0) if self._faults else None
        return kind, fault

    def _next_step(self, request: dict[str, Any]) -> tuple[int, Step | None]:
        with self._lock:
            self.steps_served += 1
            number = self.steps_served
            script = self._script
        if callable(script):
            return number, script(request, number)
        return number, script[number - 1] if number <= len(script) else None

    def _fail(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def answer(self, request: dict[str, Any], kind: str) -> str:
        """The message content for ``request``."""
        if kind == "agent_step":
            return self._agent_step(request)
        schema = _schema_of(request)
        if kind == "extraction":
            return self._extraction(request, schema)
        if kind == "judge":
            verdict = self.judge_verdict
            return json.dumps(
                {
                    "reasoning": "Scripted judge.",
                    "verdict": verdict,
                    "failure_reason": "" if verdict else "Scripted failure.",
                    "impossible_task": False,
                    "reached_captcha": False,
                }
            )
        if schema is not None:
            return json.dumps(minimal_instance(schema))
        return self.text_answer

    def _extraction(self, request: dict[str, Any], schema: dict[str, Any] | None) -> str:
        answer = self.extraction_answer
        if callable(answer):
            answer = answer(request)
        if answer is not None:
            return answer if isinstance(answer, str) else json.dumps(answer)
        content = _tagged(latest_user_text(request), "webpage_content") or ""
        if schema is not None:
            return json.dumps(_fill_from_tables(schema, content))
        return content

    def _agent_step(self, request: dict[str, Any]) -> str:
        schema = _schema_of(request) or {}
        number, step = self._next_step(request)
        if step is None:
            return self._failure_reply(schema, f"ScriptedLLM: script exhausted at step {number}")
        if isinstance(step, dict) and "raw" in step:
            return str(step["raw"])
        brain: dict[str, Any] = {}
        if isinstance(step, dict):
            brain = {k: step[k] for k in AGENT_FIELDS if k in step}
            actions = list(step.get("actions", []))
        else:
            actions = list(step)
        try:
            translated = self.translate(actions, request, schema)
        except Unresolved as exc:
            return self._failure_reply(schema, f"ScriptedLLM step {number}: {exc}")
        goal = ", ".join(next(iter(a)) for a in translated) or "nothing"
        brain = {
            "thinking": f"Scripted step {number}.",
            "evaluation_previous_goal": "Scripted.",
            "memory": f"Scripted step {number}.",
            "next_goal": f"Run {goal}.",
            **brain,
        }
        return json.dumps(self._agent_output(schema, brain, translated))

    @staticmethod
    def _agent_output(
        schema: dict[str, Any], brain: dict[str, Any], actions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        props = schema.get("properties")
        output = {k: v for k, v in brain.items() if props is None or k in props}
        output["action"] = actions
        return output

    def _failure_reply(self, schema: dict[str, Any], message: str) -> str:
        self._fail(message)
        done_schema = _action_schemas(schema).get("done", {})
        done_props = done_schema.get("properties", {})
        params: dict[str, Any] = {"success": False}
        if "data" in done_props:
            params["data"] = minimal_instance(done_props["data"], schema)
        else:
            params["text"] = message
        brain = {k: message for k in AGENT_FIELDS}
        return json.dumps(self._agent_output(schema, brain, [{"done": params}]))

    def translate(
        self, actions: list[Any], request: dict[str, Any], schema: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Neutral actions to AgentOutput action items, indices resolved (or ``Unresolved``)."""
        schema = schema if schema is not None else (_schema_of(request) or {})
        offered = _action_schemas(schema)
        elements: list[Element] | None = None
        result: list[dict[str, Any]] = []
        for action in actions:
            if not isinstance(action, dict) or len(action) != 1:
                raise Unresolved(f"an action must be a one-key dict, got {action!r}")
            ((name, params),) = action.items()
            if not isinstance(params, dict):
                if name == "scroll" and isinstance(params, str):
                    params = {"down": params.lower() != "up"}
                elif name in SHORTHAND:
                    params = {SHORTHAND[name]: params}
                else:
                    raise Unresolved(f"params of {name!r} must be a dict, got {params!r}")
            params = dict(params)
            if offered and name not in offered:
                raise Unresolved(
                    f"action {name!r} is not offered in this step (offered: {sorted(offered)})"
                )
            target = dict(params.pop("element", {}) or {})
            for key in ("field", "label", "tag", "attrs"):
                if key in params:
                    target[key] = params.pop(key)
            if name in TEXT_TARGETS and "text" in params:
                target["text"] = params.pop("text")
            if target:
                if elements is None:
                    elements = parse_elements(browser_state_text(request))
                try:
                    params["index"] = resolve_element(elements, target).index
                except Unresolved as exc:
                    listing = "; ".join(e.describe() for e in elements) or "no elements"
                    raise Unresolved(f"{name}: {exc} (elements: {listing})") from exc
            if name == "done":
                params.setdefault("success", True)
                done_props = offered.get("done", {}).get("properties", {})
                if "data" not in done_props:
                    params.setdefault("text", "")
            result.append({name: params})
        return result

    # -- HTTP -------------------------------------------------------------------------------

    def _completion(self, request: dict[str, Any], content: str, raw: str) -> dict[str, Any]:
        images = raw.count('"image_url"')
        prompt_tokens = max(1, math.ceil(len(raw) / 4)) + 765 * images
        completion_tokens = max(1, math.ceil(len(content) / 4))
        model = self.model or str(request.get("model") or "gpt-4.1")
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        tool_choice = request.get("tool_choice")
        if request.get("tools") and isinstance(tool_choice, dict):
            name = tool_choice.get("function", {}).get("name", "")
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": f"call_{len(self._requests)}",
                        "type": "function",
                        "function": {"name": name, "arguments": content},
                    }
                ],
            }
        return {
            "id": f"chatcmpl-scripted-{len(self._requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }


class _Handler(BaseHTTPRequestHandler):
    llm: ScriptedLLM
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no ~40 ms delayed-ACK stall per response

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = "rate_limit_error" if status == 429 else "server_error"
        if 400 <= status < 500 and status != 429:
            kind = "invalid_request_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": None}}, headers)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            names = [self.llm.model] if self.llm.model else ["gpt-4.1", "gpt-4o", "gpt-4.1-mini"]
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": n, "object": "model", "created": 0, "owned_by": "scripted"}
                        for n in names
                    ],
                },
            )
            return
        self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route POST {self.path}")
            return
        try:
            request = json.loads(raw)
            assert isinstance(request, dict)
        except (ValueError, AssertionError):
            self._error(400, "request body is not a JSON object")
            return
        kind, fault = self.llm._record(raw, request)
        if self.llm.latency > 0:
            time.sleep(self.llm.latency)
        if fault is not None and fault[0] == "status":
            _, status, retry_after = fault
            headers = {}
            if retry_after is not None:
                headers = {
                    "Retry-After": str(math.ceil(retry_after)),
                    "retry-after-ms": str(int(retry_after * 1000)),
                }
            self._error(status, f"ScriptedLLM injected HTTP {status}", headers)
            return
        if fault is not None:
            content = '{"thinking": "garbage", "action": [ this is not JSON'
        else:
            try:
                content = self.llm.answer(request, kind)
            except Exception as exc:  # a script bug must show up as a reply, not a hang
                message = f"ScriptedLLM error answering {kind}: {type(exc).__name__}: {exc}"
                self.llm._fail(message)
                if kind == "agent_step":
                    content = self.llm._failure_reply(_schema_of(request) or {}, message)
                else:
                    content = message
        with self.llm._lock:
            self.llm.replies.append((kind, content))
        self._json(200, self.llm._completion(request, content, raw))
