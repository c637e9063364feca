"""The house's floor plan, checked: every import in labsrc (module level or inside a function)
goes to the same package or one below it, and flags/ imports nothing of the lab.

Layers, lowest first (a package may import its own layer and any lower one):
kernels < core < executors, dynamics < harness < interpreters < report < bench, tools < the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: dict[str, int] = {
    "labsrc.kernels": 0,
    "labsrc.core": 1,
    "labsrc.executors": 2,
    "labsrc.dynamics": 2,
    "labsrc.harness": 3,
    "labsrc.interpreters": 4,
    "labsrc.report": 5,
    "labsrc.bench": 6,
    "labsrc.tools": 6,
    "labsrc": 7,  # the top: labsrc/__init__, cli, cliargs, toolcmds, __main__
}
# Same layer, different package: allowed only where named here (none today).
SIDEWAYS: set[tuple[str, str]] = set()


def package_of(module: str) -> str:
    """The labsrc package (a key of LAYERS) that holds `module`."""
    parts = module.split(".")
    for n in (2, 1):
        name = ".".join(parts[:n])
        if name in LAYERS and (n == 1 or len(parts) > 2 or name == module):
            return name
    return "labsrc"


def imports_of(path: Path) -> list[str]:
    """Every module that `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def lab_modules() -> list[Path]:
    return sorted((ROOT / "labsrc").rglob("*.py"))


def test_package_of_knows_the_layers() -> None:
    assert package_of("labsrc.core.probe") == "labsrc.core"
    assert package_of("labsrc.executors.dask.worker") == "labsrc.executors"
    assert package_of("labsrc.cli") == "labsrc"
    assert package_of("labsrc.report") == "labsrc.report"


@pytest.mark.parametrize("path", lab_modules(), ids=lambda p: module_name(p))
def test_imports_run_downwards(path: Path) -> None:
    here = package_of(module_name(path))
    wrong = []
    for target in imports_of(path):
        if not target.startswith("labsrc"):
            continue
        there = package_of(target)
        if target in ("labsrc", "labsrc.__version__") or there == here:
            continue  # the package's version, or its own package
        if LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and (here, there) not in SIDEWAYS):
            wrong.append(f"{target} ({there}, layer {LAYERS[there]})")
    assert not wrong, f"{module_name(path)} (layer {LAYERS[here]}) imports upwards or sideways: {wrong}"


def test_flags_is_a_leaf() -> None:
    for path in sorted((ROOT / "flags").rglob("*.py")):
        lab = [t for t in imports_of(path) if t.split(".")[0] in ("labsrc", "cext")]
        assert not lab, f"{path.name} imports the lab: {lab}"


def test_no_import_cycle_between_modules() -> None:
    """Module-level imports only (a function-level import breaks no cycle at import time,
    but the house should not need one either): no module reaches itself."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(p).removesuffix(".__init__") for p in lab_modules()}
    for path in lab_modules():
        name = module_name(path).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labsrc"):
                # `from package import module` imports that module, not the package's own code
                subs = {f"{node.module}.{a.name}" for a in node.names}
                targets |= (subs & modules) or {node.module}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("labsrc")}
        graph[name] = targets - {name, "labsrc"}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            mod = todo.pop()
            if mod not in seen:
                seen.add(mod)
                todo += graph.get(mod, ())
        return seen

    cycles = sorted(m for m in graph if m in reach(m))
    assert not cycles, f"modules that import themselves through others: {cycles}"
