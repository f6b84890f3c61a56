"""Notebooks: every .py / .ipynb pair in sync, committed outputs current, every notebook runs in fast
mode, committed ones executed in full mode, and every function their tables name exists.

Needs jupytext, nbformat, nbclient and ipykernel (a python3 kernel).

Current outputs: ``python notebooks/build.py`` stamps each .ipynb with what its outputs were computed
from (the notebook's code cells, the minisparse modules the kernel imported, the repository files it
read) and a hash of the outputs; :func:`test_outputs_are_current` recomputes both from the working
tree and the committed .ipynb, so a library change that would alter a notebook's printout fails here
until the notebook is rebuilt. See notebooks/build.py's docstring for what counts as a change.
"""
import copy
import importlib
import importlib.util
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SOURCES = build.sources()
ids = [p.stem for p in SOURCES]


def test_there_are_notebooks():
    assert SOURCES, f"no notebooks/[0-9]*.py found in {NOTEBOOKS}"


# ---------------------------------------------------------------------------------------------------
# The .py / .ipynb pair

@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_pair_in_sync(py_path):
    """The .ipynb exists and has the same cells (type and source) as its .py twin."""
    problems = build.drift(py_path)
    assert not problems, ("notebook pair has drifted; edit the .py and run "
                          "`python notebooks/build.py`:\n" + "\n".join(problems))


def test_drift_is_detected(tmp_path):
    """The sync check itself fails on an edited cell, a missing cell and a missing .ipynb."""
    py_path = SOURCES[0]
    py_copy = tmp_path / py_path.name
    py_copy.write_text(py_path.read_text(encoding="utf-8"), encoding="utf-8")
    ipynb_copy = py_copy.with_suffix(".ipynb")
    assert build.drift(py_copy) and "missing" in build.drift(py_copy)[0]

    nb = jupytext.read(py_copy)         # the .py's own cells: the committed .ipynb may be mid-edit
    nbformat.write(nb, ipynb_copy)
    assert build.drift(py_copy) == []
    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[code].source += "\nx = 1"
    nbformat.write(nb, ipynb_copy)
    assert any(f"cell {code}:" in p for p in build.drift(py_copy))
    del nb.cells[-1]
    nbformat.write(nb, ipynb_copy)
    assert any("cells" in p for p in build.drift(py_copy))


# ---------------------------------------------------------------------------------------------------
# Committed outputs are what the current code prints

@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_outputs_are_current(py_path):
    """The build stamp of the committed .ipynb holds for the current tree: same code cells, same code in
    every minisparse module the notebook imported, same files read, outputs as the build wrote them."""
    problems = build.stale(py_path)
    assert not problems, (
        f"the outputs of {py_path.with_suffix('.ipynb').name} may not be what the current code prints; "
        f"rebuild with `python notebooks/build.py {py_path.stem}`:\n  " + "\n  ".join(problems))


def test_code_hash_ignores_docstrings_comments_and_layout():
    base = build.code_hash('"""Module."""\nimport math\n\n\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    same = build.code_hash('"""Module, reworded."""\n# a comment\nimport math\n\ndef f(x):  # why\n'
                           '    """Other doc."""\n    return (x\n            + 1)\n')
    assert base == same
    assert build.code_hash('import math\n\ndef f(x):\n    return x + 2\n') != base
    assert build.code_hash('import math\n\ndef g(x):\n    return x + 1\n') != base
    # a module that reads __doc__ (argparse descriptions) keeps its module docstring
    assert build.code_hash('"""A."""\nd = __doc__\n') != build.code_hash('"""B."""\nd = __doc__\n')


def _stamped_copy(tmp_path, modules, files, root=ROOT):
    """A copy of a committed notebook pair in ``tmp_path``, stamped as if built with ``modules`` and
    ``files`` at ``root``, and the path of its .py."""
    py_path = SOURCES[0]
    py_copy = tmp_path / py_path.name
    shutil.copy(py_path, py_copy)
    nb = jupytext.read(py_path.with_suffix(".ipynb"))
    build.stamp(nb, py_copy, modules, files, root=root)
    build.write_ipynb(nb, py_copy.with_suffix(".ipynb"))
    return py_copy


def _edit_ipynb(py_copy, edit):
    ipynb = py_copy.with_suffix(".ipynb")
    nb = jupytext.read(ipynb)
    original = copy.deepcopy(nb)
    edit(nb)
    build.write_ipynb(nb, ipynb)
    problems = build.stale(py_copy)
    build.write_ipynb(original, ipynb)
    return problems


def test_edited_outputs_are_detected(tmp_path):
    """In a stamped copy of a committed notebook, an edited stream text, an edited image and an added
    error each make the check fail, naming the cell; the unedited copy passes."""
    py_copy = _stamped_copy(tmp_path, {"minisparse": "ast", "minisparse.network.layer": "ast"},
                            ["minisparse/data/mnist_5k.npz"])
    assert build.stale(py_copy) == []
    nb = jupytext.read(py_copy.with_suffix(".ipynb"))
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    stream = next(i for i in code if any(o.output_type == "stream" for o in nb.cells[i].outputs))

    def edit_text(nb):
        out = next(o for o in nb.cells[stream].outputs if o.output_type == "stream")
        out.text = out.text.replace("0", "1", 1) if "0" in out.text else out.text + "1"
    problems = _edit_ipynb(py_copy, edit_text)
    assert problems and all(f"outputs of cell {stream} " in p for p in problems), problems

    def add_error(nb):
        nb.cells[code[-1]].outputs.append(nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="", traceback=["AssertionError"]))
    assert any(f"outputs of cell {code[-1]} " in p for p in _edit_ipynb(py_copy, add_error))

    images = [i for i in code for o in nb.cells[i].outputs if "image/png" in o.get("data", {})]
    if images:
        def edit_image(nb):
            out = next(o for o in nb.cells[images[0]].outputs if "image/png" in o.get("data", {}))
            out.data["image/png"] = out.data["image/png"][:-8] + "AAAAAAA="
        assert any(f"outputs of cell {images[0]} " in p for p in _edit_ipynb(py_copy, edit_image))

    def no_stamp(nb):
        del nb.metadata[build.STAMP_KEY]
    assert "no build stamp" in _edit_ipynb(py_copy, no_stamp)[0]
    assert build.stale(py_copy) == []


def test_changed_code_is_detected(tmp_path):
    """With a copy of the package as the tree: a code change in a module the notebook imported fails
    and names the module; a docstring and comment edit does not, unless the notebook read that
    module as text; a changed data file, a removed module and an edited code cell fail too."""
    root = tmp_path / "root"
    shutil.copytree(ROOT / "minisparse", root / "minisparse", ignore=shutil.ignore_patterns("__pycache__"))
    modules = {"minisparse": "ast", "minisparse.network.topk": "ast", "minisparse.growth.select": "text",
               "minisparse.network.layer": "ast"}
    data = "minisparse/data/mnist_5k.npz"
    work = tmp_path / "nb"
    work.mkdir()
    py_copy = _stamped_copy(work, modules, [data], root=root)
    assert build.stale(py_copy, root=root) == []
    assert build.stale(py_copy) == [], "the copy of the package should fingerprint like the package"

    def stale_after(rel, change):
        path = root / rel
        original = path.read_bytes()
        path.write_text(change(original.decode("utf-8")), encoding="utf-8")
        try:
            return build.stale(py_copy, root=root)
        finally:
            path.write_bytes(original)

    topk = "minisparse/network/topk.py"
    assert (root / topk).read_text(encoding="utf-8").startswith('"""')
    reworded = stale_after(topk, lambda s: '"""Reworded. ' + s[3:].replace("\n\n", "\n\n# a comment\n\n", 1))
    assert reworded == [], reworded
    changed = stale_after(topk, lambda s: s + "\nTIE_RULE = 'position'\n")
    assert changed == ["module minisparse.network.topk changed (its code; docstrings and comments do not count)"]
    assert "module minisparse.growth.select changed (its text" in " ".join(
        stale_after("minisparse/growth/select.py", lambda s: '"""Reworded. ' + s[3:]))
    blob = (ROOT / data).read_bytes()
    (root / data).write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    assert build.stale(py_copy, root=root) == [f"file {data} changed"]
    (root / data).unlink()
    assert build.stale(py_copy, root=root) == [f"file {data} is missing"]
    shutil.copy(ROOT / data, root / data)
    (root / "minisparse/network/layer.py").unlink()
    assert build.stale(py_copy, root=root) == ["module minisparse.network.layer no longer exists"]
    shutil.copy(ROOT / "minisparse/network/layer.py", root / "minisparse/network/layer.py")

    nb = jupytext.read(py_copy)
    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[code].source += "\nx = 1"
    jupytext.write(nb, py_copy, fmt="py:percent")
    assert build.stale(py_copy, root=root) == [
        f"code cells of {py_copy.name} changed since the outputs were computed"]


@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_committed_notebook_was_executed_in_full_mode(py_path):
    """Every code cell of the .ipynb ran, in order, without errors, and not in fast mode."""
    nb = nbformat.read(py_path.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"code cells were not executed once each, top to bottom (execution counts {counts}): "
        f"run `python notebooks/build.py {py_path.stem}`")
    outputs = [o for c in code for o in c.outputs]
    assert outputs, "the notebook has no outputs"
    assert not [o for o in outputs if o.output_type == "error"], "a cell raised an error"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "FAST = True" not in text, "the committed outputs come from a fast run; rebuild without --fast"
    assert not nb.metadata.get(build.STAMP_KEY, {}).get("fast"), "the build stamp says --fast; rebuild"


@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_notebook_runs_in_fast_mode(py_path, tmp_path):
    """Every cell runs (its asserts included) with MINISPARSE_FAST=1, leaving no file behind; the
    notebook it gives, written as a build writes it, carries a stamp that holds."""
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = build.execute(py_path, fast=True, timeout=300)   # raises CellExecutionError on failure
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the notebook left files in notebooks/"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")
    assert "FAST = True" in text, "the kernel did not see MINISPARSE_FAST=1"

    py_copy = tmp_path / py_path.name           # a rebuild into tmp_path
    shutil.copy(py_path, py_copy)
    build.write_ipynb(nb, py_copy.with_suffix(".ipynb"))
    assert build.stale(py_copy) == []
    stamp = jupytext.read(py_copy.with_suffix(".ipynb")).metadata[build.STAMP_KEY]
    assert stamp["fast"] and "minisparse" in stamp["modules"]
    assert all((ROOT / f).is_file() for f in stamp["files"])
    if "inspect.getsource(" in py_path.read_text(encoding="utf-8"):
        assert any(v.startswith("text:") for v in stamp["modules"].values()), (
            "the notebook prints library source, but no module was recorded as read as text")


# ---------------------------------------------------------------------------------------------------
# The names in the notebooks' tables ("where to break in", "article name → function")

PACKAGE = ROOT / "minisparse"
_module_files = [p.relative_to(ROOT).with_suffix("") for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
MODULES = {(p.parts[:-1] if p.name == "__init__" else p.parts) for p in _module_files}
MODULES |= {p.relative_to(ROOT).parts for p in PACKAGE.rglob("*")
            if p.is_dir() and "__pycache__" not in p.parts and any(p.glob("*.py"))}
SHORT_NAMES = {parts[-1] for parts in MODULES}          # pruning, kernels, fast, ctre, topology, …
SUBPACKAGES = sorted((".".join(parts[1:]) for parts in MODULES
                      if len(parts) > 1 and (ROOT.joinpath(*parts)).is_dir()), key=lambda s: (s.count("."), s))
_SPAN = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_FILE = re.compile(r"\.(py|ipynb|json|png|npz|md|txt)$")


def table_names(py_path):
    """(name, table row) for every backticked dotted name in a markdown table row of the notebook whose
    first part is ``minisparse`` or a minisparse module (``pruning.prune_lowest(…)`` gives
    ``pruning.prune_lowest``; file names are skipped)."""
    found = []
    for cell in jupytext.read(py_path).cells:
        if cell.cell_type != "markdown":
            continue
        for row in cell.source.splitlines():
            if not row.lstrip().startswith("|"):
                continue
            for span in _SPAN.findall(row):
                match = _DOTTED.match(span.strip())
                if match and not _FILE.search(match.group()) and match.group().split(".")[0] in SHORT_NAMES:
                    found.append((match.group(), row.strip()))
    return found


def _lookup(dotted):
    """The object at ``dotted`` (a full path: the longest module prefix is imported, the rest are
    attributes), or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if build.module_path(".".join(parts[:i])) is not None:
            obj = importlib.import_module(".".join(parts[:i]))
            break
    else:
        return None
    for attr in parts[i:]:
        if not hasattr(obj, attr):
            return None
        obj = getattr(obj, attr)
    return obj


def resolve(name):
    """The full names that ``name`` resolves to: ``name`` itself if it starts with ``minisparse.``, else
    ``minisparse.<name>``, then ``minisparse.<subpackage>.<name>`` for every subpackage."""
    if name.split(".")[0] == "minisparse":
        candidates = [name]
    else:
        candidates = [f"minisparse.{name}"] + [f"minisparse.{sub}.{name}" for sub in SUBPACKAGES]
    return [c for c in candidates if _lookup(c) is not None]


def missing_table_names(py_path):
    return sorted({(name, row) for name, row in table_names(py_path) if not resolve(name)})


def test_module_short_names():
    assert {"minisparse", "pruning", "kernels", "fast", "ctre", "topology", "first_order", "growth"} <= SHORT_NAMES
    assert resolve("kernels.fast.Walks.walk") == ["minisparse.network.kernels.fast.Walks.walk"]
    assert "minisparse.pruning.prune_lowest" in resolve("pruning.prune_lowest")


@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_table_names_exist(py_path):
    """Every function (class, method, attribute) named in the notebook's tables exists in minisparse,
    so a renamed function breaks this test rather than leaving a stale table."""
    names = table_names(py_path)
    markdown = " ".join(c.source for c in jupytext.read(py_path).cells if c.cell_type == "markdown")
    if re.search(r"\|\s*break in\s*\|", markdown):
        assert names, f"{py_path.name} has a 'break in' table but no minisparse names were read from it"
    missing = missing_table_names(py_path)
    assert not missing, (f"{py_path.name} names {len(missing)} thing(s) minisparse does not have (tried "
                         "minisparse.<name> and minisparse.<subpackage>.<name>):\n  "
                         + "\n  ".join(f"{name}   in  {row[:100]}" for name, row in missing))


def test_missing_table_names_are_reported(tmp_path):
    py = tmp_path / "99_names.py"
    py.write_text("# %% [markdown]\n# See `pruning.no_such_function` in prose (not checked).\n#\n"
                  "# | to see | break in |\n# | --- | --- |\n"
                  "# | a | `pruning.prune_lowest(scope=\"layer\")`, `kernels.fast.Walks.walk` |\n"
                  "# | b | `growth.select.no_such_thing`, `minisparse.network.nope.f`, `pruning/select.py` |\n"
                  "# | c | `net.loss_and_grads`, `select.py`, `ctre.train_ctre` |\n\n"
                  "# %%\nx = 1\n", encoding="utf-8")
    assert [n for n, _ in table_names(py)] == ["pruning.prune_lowest", "kernels.fast.Walks.walk",
                                               "growth.select.no_such_thing", "minisparse.network.nope.f",
                                               "ctre.train_ctre"]
    assert [n for n, _ in missing_table_names(py)] == ["growth.select.no_such_thing", "minisparse.network.nope.f"]
