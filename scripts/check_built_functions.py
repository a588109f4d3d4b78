"""Checks `sam build`'s output is complete: what each zip function would run with in Lambda.

Usage: check_built_functions.py BUILT_TEMPLATE (scripts/check-deploy runs it).

Every layer holds its requirements.txt and all they depend on (extras and markers evaluated
for each of its CompatibleRuntimes, versions within the specifiers). Every zip function's
code and layers were built and fit Lambda's unzipped-size limit, and its handler imports in
the Python its Runtime names (found on PATH, as `sam build` found it) started isolated (-I
-S: no site-packages, no current directory), with only the function's folder and its layers
on sys.path, as Lambda's /var/task and /opt/python.
"""

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import Distribution, distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from browser_tasks.local.template import load_template

# Lambda's limit on a function's code plus all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 262_144_000

# Runs in the isolated interpreter, whose sys.path is then the standard library only.
IMPORT_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module_name, function_name = sys.argv[2].rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function_name)
assert callable(handler), sys.argv[2] + " is not callable"
"""


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def missing_requirements(layer_python: Path, python_version: str) -> list[str]:
    """What the layer's requirements.txt needs (transitively) that the layer does not hold."""
    installed: dict[str, Distribution] = {
        canonicalize_name(dist.metadata["Name"]): dist
        for dist in distributions(path=[str(layer_python)])
    }
    lines = (layer_python / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    missing: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        dist = installed.get(name)
        if dist is None:
            missing.append(str(requirement))
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            missing.append(f"{requirement} (the layer has {dist.version})")
        for needed in map(Requirement, dist.requires or []):
            environments = [{"extra": extra} for extra in requirement.extras or {""}]
            if needed.marker is None or any(
                needed.marker.evaluate({**env, "python_version": python_version})
                for env in environments
            ):
                pending.append(needed)
    return missing


def interpreter(runtime: str) -> str:
    """The real executable of the runtime's Python on PATH (not a wrapper such as pyenv's)."""
    found = subprocess.run(
        [runtime, "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def check_layer(name: str, properties: dict[str, Any], build_dir: Path) -> list[str]:
    """The problems of one built layer (empty when it holds all it should)."""
    layer_python = build_dir / properties["ContentUri"] / "python"
    if not layer_python.is_dir():
        return [f"{name}: {layer_python} was not built"]
    return [
        f"{name} lacks {need} for {runtime}"
        for runtime in properties["CompatibleRuntimes"]
        for need in missing_requirements(layer_python, runtime.removeprefix("python"))
    ]


def check_function(
    name: str, properties: dict[str, Any], resources: dict[str, Any], build_dir: Path
) -> tuple[list[str], str]:
    """The problems of one built zip function (none when it is deployable), and a summary."""
    code = build_dir / properties["CodeUri"]
    layers = [
        build_dir / resources[layer["Ref"]]["Properties"]["ContentUri"] / "python"
        for layer in properties.get("Layers", [])
    ]
    if not all(folder.is_dir() for folder in [code, *layers]):
        return [f"{name}: its code or a layer was not built"], ""
    problems = []
    size = folder_size(code) + sum(folder_size(layer.parent) for layer in layers)
    if size > UNZIPPED_LIMIT_BYTES:
        problems.append(f"{name}: {size} bytes unzipped with its layers, over Lambda's limit")
    search_path = json.dumps([str(code), *map(str, layers)])
    # -B: no __pycache__ written into the build (Lambda's code is read-only, and sizes stay true).
    python = [interpreter(properties["Runtime"]), "-I", "-S", "-B"]
    with tempfile.TemporaryDirectory() as empty_cwd:
        probe = subprocess.run(
            [*python, "-c", IMPORT_PROBE, search_path, properties["Handler"]],
            cwd=empty_cwd,
            # Region only: importing must need no credentials, tables or other settings.
            env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True,
            text=True,
            check=False,
        )
    if probe.returncode != 0:
        return [*problems, f"{name}: {properties['Handler']} does not import:\n{probe.stderr}"], ""
    return problems, f"{name}: {properties['Handler']} imports; {size / 1e6:.1f} MB with its layers"


def main(built_template: Path) -> int:
    build_dir = built_template.resolve().parent  # absolute: the import probes run elsewhere
    resources: dict[str, Any] = load_template(built_template)["Resources"]

    def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource.get("Properties", {})
            for name, resource in resources.items()
            if resource["Type"] == resource_type
        }

    problems: list[str] = []
    for name, properties in of_type("AWS::Serverless::LayerVersion").items():
        problems += check_layer(name, properties, build_dir)
    zip_functions = {
        name: properties
        for name, properties in of_type("AWS::Serverless::Function").items()
        if "CodeUri" in properties  # an image function has ImageUri instead
    }
    # The import probes are separate interpreters: run them side by side.
    with ThreadPoolExecutor() as pool:
        for function_problems, summary in pool.map(
            lambda name: check_function(name, zip_functions[name], resources, build_dir),
            zip_functions,
        ):
            problems += function_problems
            if summary:
                print(f"  {summary}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
