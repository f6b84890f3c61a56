"""Notebooks: every .py / .ipynb pair in sync, every notebook runs in fast mode, committed ones executed.

Needs jupytext, nbformat, nbclient and ipykernel (a python3 kernel).
"""
import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SOURCES = build.sources()
ids = [p.stem for p in SOURCES]


def test_there_are_notebooks():
    assert SOURCES, f"no notebooks/[0-9]*.py found in {NOTEBOOKS}"


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

    nb = nbformat.read(py_path.with_suffix(".ipynb"), as_version=4)
    nbformat.write(nb, ipynb_copy)
    assert build.drift(py_copy) == []
    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[code].source += "\nx = 1"
    nbformat.write(nb, ipynb_copy)
    assert any(f"cell {code}:" in p for p in build.drift(py_copy))
    del nb.cells[-1]
    nbformat.write(nb, ipynb_copy)
    assert any("cells" in p for p in build.drift(py_copy))


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


@pytest.mark.parametrize("py_path", SOURCES, ids=ids)
def test_notebook_runs_in_fast_mode(py_path):
    """Every cell runs (its asserts included) with MINISPARSE_FAST=1, leaving no file behind."""
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = build.execute(py_path, fast=True, timeout=300)   # raises CellExecutionError on failure
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the notebook left files in notebooks/"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")
    assert "FAST = True" in text, "the kernel did not see MINISPARSE_FAST=1"
