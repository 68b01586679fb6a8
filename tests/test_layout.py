"""The package's layout keeps the flow one way: foundation -> lake -> ingest / reconcile -> reports -> ops -> cli."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import recon

PACKAGE = Path(recon.__file__).parent
FOUNDATION = {"recon", "recon.errors", "recon.config", "recon.money", "recon.timeutil", "recon.logs",
              "recon.sqlfiles"}
# What each stage may import besides itself and the foundation.
ALLOWED = {
    "foundation": set(),
    "lake": set(),
    "ingest": {"lake"},
    "reconcile": {"lake"},
    "reports": {"lake", "reconcile"},
    "sandbox": set(),
    "ops": {"lake", "ingest", "reconcile", "reports", "sandbox"},
    "cli": {"lake", "ingest", "reconcile", "reports", "sandbox", "ops"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module == "recon.cli":
        return "cli"
    return module.split(".")[1]


def imports_of(path: Path) -> set[str]:
    """Every recon module a file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recon"):
            assert node.level == 0, f"{path}: use absolute imports"
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("recon"))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the recon modules it imports. The package root is a facade: ``recon.open`` imports
    the reader lazily, and everyone may import ``recon.__version__``; its edges are left out."""
    g = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    assert g["recon"] <= {"recon.ops.query"}, "recon/__init__.py stays a thin facade"
    g["recon"] = set()
    return g


def test_every_stage_imports_only_earlier_stages():
    wrong = [f"{mod} imports {dep}" for mod, deps in graph().items() for dep in deps
             if stage(dep) != stage(mod) and stage(dep) != "foundation" and stage(dep) not in ALLOWED[stage(mod)]]
    assert wrong == []


def test_there_is_no_import_cycle():
    g = graph()
    edges = {mod: {d for d in deps if d in g} for mod, deps in g.items()}
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges[node]):
            if seen.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node, [node])
    assert cycles == []


def test_the_production_pull_path_does_not_load_the_sandbox():
    code = ("import sys, recon.ingest.pull, recon.reconcile.runner, recon.reports.workbook; "
            "print(sorted(m for m in sys.modules if m.startswith('recon.sandbox')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_results_layout_is_defined_once():
    """Only recon/lake/store.py spells the results folder; everyone else asks the Lake."""
    spelled = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py")
               if '"results"' in p.read_text(encoding="utf-8")]
    assert [str(p) for p in spelled] == ["lake/store.py"]


def test_test_files_have_unique_names():
    """Test folders have no __init__.py: two files of one name would shadow each other."""
    names = [p.name for p in (PACKAGE.parent / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
