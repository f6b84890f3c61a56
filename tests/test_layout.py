"""The package's shape: no import cycle, the library never imports the lab, each part imports only the
parts below it, no library module over 400 lines, and nothing refers to files outside the repository."""
import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minisparse"
# each part of the library may import from the parts listed (and from itself)
LAYERS = {"network": set(), "data": {"network"}, "pruning": {"network"}, "growth": {"network", "pruning"},
          "sparse_training": {"network", "pruning", "growth", "data"},
          "continual": {"network", "pruning", "growth", "data", "sparse_training"}}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "studies" not in p.parts}


def imports(path, known):
    """Modules of the package that ``path`` imports anywhere in it (functions included), resolved to
    the most specific module: ``from ..network import kernels`` is minisparse.network.kernels."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "minisparse"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "minisparse":
                target = node.module
            else:
                continue
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return found - {name}


def graph():
    known = modules()
    return {name: imports(path, known) & set(known) for name, path in known.items()}


def test_no_import_cycle():
    edges, state, cycle = graph(), {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycle.append(trail + [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycle, "import cycle: " + " → ".join(cycle[0])


def test_each_part_imports_only_the_parts_below_it():
    bad = []
    for name, targets in graph().items():
        part = name.split(".")[1] if name.count(".") else None
        for target in targets:
            other = target.split(".")[1] if target.count(".") else None
            if part == other or other is None and part in LAYERS:
                continue
            if part in LAYERS and other not in LAYERS[part]:
                bad.append(f"{name} imports {target}")
            if other == "lab" and part != "lab":
                bad.append(f"{name} imports the lab ({target})")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_cycle_and_a_forbidden_import(tmp_path, monkeypatch):
    """The two tests above can fail: a module that imports its importer, and a network module that
    imports growth, are both reported."""
    fake = tmp_path / "minisparse"
    (fake / "network").mkdir(parents=True)
    (fake / "growth").mkdir()
    for p in (fake / "__init__.py", fake / "network" / "__init__.py", fake / "growth" / "__init__.py"):
        p.write_text("")
    (fake / "network" / "a.py").write_text("from ..growth import b\n")
    (fake / "growth" / "b.py").write_text("def f():\n    from ..network.a import x\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="minisparse.network.a imports minisparse.growth.b"):
        test_each_part_imports_only_the_parts_below_it()


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if "lab" not in p.parts),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_modules_stay_short(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines: split it"


def test_nothing_refers_outside_the_repository():
    """No tracked file names the developers' design notes or the folder beside the repository."""
    needles = ["ALGORITHMS" + ".md", ".." + "/shared", "FIGURES" + ".md", "STYLE" + ".md"]
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:                                                   # not a git checkout: walk the tree
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    hits = []
    for f in files:
        path = ROOT / f
        if path.suffix in {".png", ".npz", ".gz"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        hits += [f"{f}: {n}" for n in needles if n in text]
    assert not hits, "\n".join(hits)


SCRIPTS = sorted((PACKAGE / "lab" / "studies").glob("*.py")) + sorted((ROOT / "notebooks").glob("[0-9]*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_import_names_that_exist(path):
    """The studies and the notebooks' sources are not imported by the tests' other checks: every
    ``from minisparse… import name`` in them must name something that exists."""
    import importlib
    import importlib.util
    missing = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "minisparse":
            module = importlib.import_module(node.module)
            missing += [f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)
                        and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "minisparse" and importlib.util.find_spec(a.name) is None:
                    missing.append(a.name)
    assert not missing, f"{path.name} imports what does not exist: {missing}"
