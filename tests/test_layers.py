"""The import layers of the package: nothing below imports from above.

Every `import` in driver/ (module level and inside functions) is checked against
the table: a module may import from its own layer's package or from lower layers,
never from a higher one; the demo targets are imported only by the CLI.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "driver"

# lowest first; a module's layer is that of its longest matching prefix
LAYERS = [
    ["driver.errors", "driver.durations", "driver.layout", "driver.histogram", "driver.recorder",
     "driver.httpparse", "driver._speedups", "driver._recorder", "driver._httpparse", "driver.shapes",
     "driver.environment", "driver.limits", "driver.masking"],
    ["driver.payloads"],  # payload generators: pure, they import nothing else of driver
    ["driver.stats"],  # results, thresholds, verdicts: numbers, no plan
    # platform mocks (started by a run's bot-side process) and the chaos timeline (its
    # spec is part of a plan; its webhook faults run in the bot-side process)
    ["driver.mock", "driver.chaos", "driver.replies"],
    ["driver.plan", "driver.shm"],
    ["driver.engine"],
    ["driver.scenario"],
    ["driver.planning"],  # flags and config layers into a Plan
    ["driver.runner", "driver.config"],
    ["driver.reports"],
    ["driver.ui"],  # the web UI: serves runs (runner) and their reports
    ["driver.targets"],  # demo servers: beside the run path
    ["driver.cli", "driver.pytest_plugin"],  # the pytest plugin runs in-process loads (driver.runner.inline)
]


def layer_of(module: str) -> tuple[int, str]:
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > len(best[1]):
                    best = (i, name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        if name == "driver":
            continue  # the facade re-exports from every layer, lazily where it must
        yield name, path


def _imports(path: Path, module: str):
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("driver"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("driver"):
                continue
            if target == "driver":  # `from driver import x`: the module x, or a facade name
                for alias in node.names:
                    yield node.lineno, "driver." + alias.name if alias.name != "__version__" else "driver.errors"
            else:
                yield node.lineno, target


MODULES = list(_modules())


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_nothing_imports_from_a_higher_layer(module, path):
    mine, my_pkg = layer_of(module)
    for line, target in _imports(path, module):
        theirs, their_pkg = layer_of(target)
        where = f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
        assert theirs <= mine, f"{where}: layer {theirs} is above this module's layer {mine}"
        if theirs == mine and mine != 0:
            assert their_pkg == my_pkg, f"{where}: a sibling package of the same layer"
        if their_pkg == "driver.targets":
            assert module == "driver.cli" or module.startswith(("driver.cli.", "driver.targets")), \
                f"{where}: driver.targets is for the CLI and the tests only"


def test_every_module_is_in_a_layer():
    for module, _ in MODULES:
        layer_of(module)
