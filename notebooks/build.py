"""Re-execute the notebooks and write each paired ``.ipynb`` with its outputs.

    python notebooks/build.py              # every notebooks/[0-9]*.py
    python notebooks/build.py 01           # only those whose name starts with 01 (or is 01_sparse_mlp…)
    python notebooks/build.py --fast       # MINISPARSE_FAST=1 (for a quick look; do not commit its outputs)
    python notebooks/build.py --check      # only report .py / .ipynb pairs whose cells differ

The ``.py`` (jupytext py:percent) is the source: it is read with jupytext, executed with nbclient in
``notebooks/`` and written to the ``.ipynb`` beside it, through a temporary file renamed onto it.
The kernel sees the repository root on ``PYTHONPATH``, so ``import minisparse`` works uninstalled.
:func:`execute` runs a notebook in memory without writing anything (the tests use it).
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
TIMEOUT = 1800          # seconds per cell: F0 in full mode trains six networks


def sources(names=()):
    """The notebooks' ``.py`` sources in reading order, optionally only those matching ``names``."""
    paths = sorted(NOTEBOOKS.glob("[0-9]*.py"))
    if not names:
        return paths
    chosen = [p for p in paths if any(p.name == n or p.stem == n or p.name.startswith(n) for n in names)]
    unknown = [n for n in names if not any(p.name == n or p.stem == n or p.name.startswith(n) for p in paths)]
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; known: {[p.stem for p in paths]}")
    return chosen


def execute(py_path, fast=False, timeout=TIMEOUT):
    """Read ``py_path`` with jupytext, run every cell in a fresh kernel (cwd notebooks/) and return the
    notebook with its outputs. ``fast`` sets MINISPARSE_FAST=1 for the kernel. Nothing is written."""
    nb = jupytext.read(py_path)
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, MINISPARSE_FAST="1" if fast else "0", PYTHONPATH=python_path)
    client = NotebookClient(nb, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    for i, cell in enumerate(nb.cells):     # stable ids, so a rebuild changes only what changed
        cell.id = f"cell-{i:03d}"
    return nb


def write_ipynb(nb, path):
    """Write ``nb`` as .ipynb to ``path`` atomically (temporary file beside it, then os.replace)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".ipynb.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(jupytext.writes(nb, fmt="ipynb"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cells(path):
    """(cell type, source) of every cell of a notebook file, .py or .ipynb, as jupytext reads it."""
    return [(cell.cell_type, cell.source) for cell in jupytext.read(path).cells]


def drift(py_path):
    """Why the .ipynb paired with ``py_path`` does not match it: a list of messages, empty when in sync."""
    py_path = Path(py_path)
    ipynb = py_path.with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{ipynb.name} is missing: run python notebooks/build.py {py_path.stem}"]
    a, b = cells(py_path), cells(ipynb)
    problems = [f"cell {i}: {py_path.name} has a {x[0]} cell {x[1][:60]!r}…, "
                f"{ipynb.name} a {y[0]} cell {y[1][:60]!r}…"
                for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b):
        problems.append(f"{py_path.name} has {len(a)} cells, {ipynb.name} has {len(b)}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python notebooks/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all), e.g. 01")
    parser.add_argument("--fast", action="store_true", help="run with MINISPARSE_FAST=1")
    parser.add_argument("--check", action="store_true", help="only check that every pair is in sync")
    args = parser.parse_args(argv)
    status = 0
    for py_path in sources(args.names):
        if args.check:
            problems = drift(py_path)
            print(f"{py_path.name}: " + ("in sync" if not problems else "\n  ".join(["DRIFTED"] + problems)))
            status |= bool(problems)
            continue
        start = time.perf_counter()
        nb = execute(py_path, fast=args.fast)
        out = py_path.with_suffix(".ipynb")
        write_ipynb(nb, out)
        print(f"{out.relative_to(ROOT)}  ({time.perf_counter() - start:.1f} s"
              f"{', fast' if args.fast else ''})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
