"""The layers: the connector core, the OpenMetadata client, sources, sinks and the workflow
engines (profiler...) run without Dagster (a connector written against them needs no
orchestrator), and no module imports another that imports it back."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "om_dagster"
LOWER = ("core", "openmetadata", "sources", "sinks", "profiler")


def runtime_imports(path: Path) -> set[str]:
    """om_dagster modules a file imports when it runs (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("om_dagster"):
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def modules() -> dict[str, set[str]]:
    names = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    return {
        name: {d for d in runtime_imports(path) if d in names and d != name} for name, path in names.items()
    }


def test_no_module_imports_one_that_imports_it_back():
    graph = modules()
    cycles, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def layer(module: str) -> str:
    """`om_dagster.core.recipe` -> `core`."""
    return module.split(".")[1] if "." in module else ""


def test_lower_layers_never_import_the_dagster_layer():
    wrong = {
        (name, dep)
        for name, deps in modules().items()
        for dep in deps
        if layer(name) in LOWER and layer(dep) in ("location", "bridge")
    }
    assert wrong == set()


def test_a_recipe_loads_and_its_steps_run_without_dagster():
    code = f"""
import sys
from pathlib import Path
from om_dagster.core.loader import load_recipe
import om_dagster.openmetadata.managed, om_dagster.openmetadata.pipeline_status

recipe = load_recipe(Path({str(ROOT / "workflows" / "sample_sqlite.yaml")!r}), strict_env=True)
source = recipe.steps["source"].create(recipe.workflow.source.sourceConfig.config, None, recipe)
with source:
    count = sum(1 for _ in source.run())
print(count, sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster.")))
"""
    # from the project root, where the sample recipe's relative databaseMode points
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) > 3 and loaded.strip() == "[]"
