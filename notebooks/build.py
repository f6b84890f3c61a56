"""Re-execute the notebooks and write each paired ``.ipynb`` with its outputs and a build stamp.

    python notebooks/build.py              # every notebooks/[0-9]*.py
    python notebooks/build.py 01           # only those whose name starts with 01 (or is 01_sparse_mlp…)
    python notebooks/build.py --fast       # MINISPARSE_FAST=1 (for a quick look; do not commit its outputs)
    python notebooks/build.py --check      # report pairs whose cells differ and outputs that are stale

The ``.py`` (jupytext py:percent) is the source: it is read with jupytext, executed with nbclient in
``notebooks/`` and written to the ``.ipynb`` beside it, through a temporary file renamed onto it.
The kernel sees the repository root on ``PYTHONPATH``, so ``import minisparse`` works uninstalled.
:func:`execute` runs a notebook in memory without writing anything (the tests use it).

**The build stamp.** :func:`execute` stores in the notebook's metadata (key ``minisparse_build``)
what its outputs were computed from and a hash of the outputs themselves, so that :func:`stale` can
tell later, without running anything, whether the committed outputs are still what the code prints:

- ``cells``: a hash of the notebook's code cells (markdown edits do not change outputs);
- ``modules``: every ``minisparse`` module in the kernel's ``sys.modules`` after the last cell, each
  with a hash of its code. By default that is the module's syntax tree without docstrings (bare
  string statements) and without line numbers, so a docstring, comment or layout edit keeps the
  outputs current and any code change does not (``ast:…``). A module the notebook read as text (its
  file is in the kernel's ``linecache``, e.g. after ``inspect.getsource`` or a traceback) is hashed
  byte for byte instead (``text:…``): its comments and docstrings are part of the outputs;
- ``files``: every other file under the repository that the kernel opened for reading (data such
  as ``minisparse/data/mnist_5k.npz``, figures the notebook displays), by content. They are
  recorded by an audit hook that a silent execution installs before the first cell; a second silent
  execution after the last cell reports what was imported and read. Neither adds a cell, an output
  or an execution count;
- ``outputs``: per code cell (by index), a hash of its outputs (stream name and text, data,
  errors; not execution counts or output metadata).
"""
import argparse
import ast
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
TIMEOUT = 1800          # seconds per cell: F0 in full mode trains six networks
STAMP_KEY = "minisparse_build"
STAMP_VERSION = 1


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


# ---------------------------------------------------------------------------------------------------
# Executing, with a report of what the kernel imported and read

# Runs (silently, in a namespace of its own) in the kernel before the first cell, with __ROOT__
# replaced by the repository's path. The hook records the files under it opened for reading;
# ``report()`` lists the minisparse modules and their files, the files read, and the files in
# linecache (whose text was read).
_KERNEL_SETUP = r'''
import json, linecache, os, sys, types

def _install(root):
    prefix = os.path.join(root, "")
    reads = set()
    writing = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def hook(event, args):
        if event != "open":
            return
        try:
            path, mode, flags = args
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                return
            if mode is None and flags and flags & writing:
                return
            if path is None or isinstance(path, int):
                return
            path = os.path.abspath(os.fsdecode(os.fspath(path)))
            if path.startswith(prefix):
                reads.add(path)
        except Exception:
            pass

    def report():
        modules = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
                   if name == "minisparse" or name.startswith("minisparse.")}
        shown = {os.path.abspath(f) for f in list(linecache.cache) if isinstance(f, str)}
        # every module imported from the repository counts as read (from a cached .pyc, its .py
        # was never opened)
        imported = {os.path.abspath(f) for f in (getattr(m, "__file__", None) for m in list(sys.modules.values()))
                    if isinstance(f, str)}
        return json.dumps({"modules": modules,
                           "reads": sorted(f for f in reads | imported if f.startswith(prefix)),
                           "shown": sorted(f for f in shown if f.startswith(prefix))})

    build = types.ModuleType("_notebook_build")
    build.report = report
    sys.modules["_notebook_build"] = build
    sys.addaudithook(hook)

_install(__ROOT__)
'''
_KERNEL_REPORT = '__import__("sys").modules["_notebook_build"].report()'


def _silent(client, code, **expressions):
    """Run ``code`` in the kernel without history, outputs or an execution count; return the values
    of ``expressions`` (name -> Python expression), each evaluated afterwards as a string."""
    msg_id = client.kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
    reply = client.wait_for_reply(msg_id)
    content = reply["content"] if reply else {}
    if content.get("status") != "ok":
        raise RuntimeError(f"build.py's silent kernel request failed: {content.get('ename')}: "
                           f"{content.get('evalue')}")
    values = {}
    for name, result in content.get("user_expressions", {}).items():
        if result.get("status") != "ok":
            raise RuntimeError(f"build.py's kernel query {name!r} failed: {result.get('ename')}: "
                               f"{result.get('evalue')}")
        values[name] = ast.literal_eval(result["data"]["text/plain"])
    return values


def execute(py_path, fast=False, timeout=TIMEOUT):
    """Read ``py_path`` with jupytext, run every cell in a fresh kernel (cwd notebooks/) and return the
    notebook with its outputs and its build stamp (see the module docstring). ``fast`` sets
    MINISPARSE_FAST=1 for the kernel. Nothing is written."""
    py_path = Path(py_path)
    nb = jupytext.read(py_path)
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, MINISPARSE_FAST="1" if fast else "0", PYTHONPATH=python_path)
    client = NotebookClient(nb, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    # NotebookClient.execute(), plus one silent request before the first cell and one after the last
    with client.setup_kernel(env=env):
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        setup = _KERNEL_SETUP.replace("__ROOT__", repr(str(ROOT)))
        _silent(client, f"exec({setup!r}, {{}})")
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        report = json.loads(_silent(client, "", report=_KERNEL_REPORT)["report"])
        client.set_widgets_metadata()
    for i, cell in enumerate(nb.cells):     # stable ids, so a rebuild changes only what changed
        cell.id = f"cell-{i:03d}"
    modules, files = _used(report)
    stamp(nb, py_path, modules, files, fast=fast)
    return nb


def _used(report, root=ROOT):
    """(modules: name -> 'ast' or 'text', files: paths relative to ``root``) from the kernel's report."""
    root = Path(root).resolve()
    module_files, modules = set(), {}
    shown = {Path(f).resolve() for f in report["shown"]}
    for name, file in sorted(report["modules"].items()):
        expected = module_path(name, root)
        if file is not None and Path(file).resolve() != expected:
            raise RuntimeError(f"the kernel imported {name} from {file}, not from {expected}; "
                               f"the build stamp describes the repository's code only")
        if file is not None:
            module_files.add(expected)
        modules[name] = "text" if file is not None and expected in shown else "ast"
    files = set()
    for f in (Path(f).resolve() for f in report["reads"]):
        rel = f.relative_to(root)
        if (f in module_files or f.suffix in (".pyc", ".so") or not f.is_file()
                or any(part.startswith(".") or part in ("__pycache__", "site-packages") for part in rel.parts)):
            continue
        files.add(rel.as_posix())
    return modules, sorted(files)


# ---------------------------------------------------------------------------------------------------
# Fingerprints

def _hash(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:20]


def module_path(name, root=ROOT):
    """The file of module ``name`` (``minisparse.x.y``) under ``root``: x/y.py or x/y/__init__.py; for
    a namespace package (a directory without __init__.py) the directory; None if there is none."""
    base = Path(root).resolve().joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return base if base.is_dir() else None


def _strip_docstrings(tree, keep_module_docstring=False):
    """Remove bare string statements (docstrings, attribute docstrings) from every body in ``tree``."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            keep = [stmt for i, stmt in enumerate(body)
                    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                            and isinstance(stmt.value.value, str))
                    or (keep_module_docstring and node is tree and i == 0)]
            setattr(node, field, keep)
    return tree


def _canonical(node):
    """A dump of an AST that does not depend on the Python version's optional empty fields (3.12 added
    ``type_params``, 3.13's ast.dump omits empty ones) nor on line numbers."""
    if isinstance(node, ast.AST):
        fields = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value is None or value == []:
                continue
            fields.append(f"{name}={_canonical(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(_canonical(x) for x in node) + "]"
    return repr(node)


def code_hash(source):
    """Hash of Python ``source`` that ignores comments, docstrings and layout (the module docstring
    counts if the module reads ``__doc__``)."""
    tree = ast.parse(source)
    reads_doc = any(isinstance(n, ast.Name) and n.id == "__doc__" for n in ast.walk(tree))
    return _hash(_canonical(_strip_docstrings(tree, keep_module_docstring=reads_doc)))


def module_hash(name, mode="ast", root=ROOT):
    """``'<mode>:<hash>'`` of module ``name`` under ``root`` (mode 'ast': :func:`code_hash`; 'text':
    its bytes), ``'namespace'`` for a namespace package, ``'missing'`` when there is no such module."""
    path = module_path(name, root)
    if path is None:
        return "missing"
    if path.is_dir():
        return "namespace"
    data = path.read_bytes()
    return f"{mode}:{_hash(data) if mode == 'text' else code_hash(data.decode('utf-8'))}"


def file_hash(rel, root=ROOT):
    path = Path(root) / rel
    return _hash(path.read_bytes()) if path.is_file() else "missing"


def cells_hash(nb):
    """Hash of the code cells' sources (stripped), in order."""
    return _hash(json.dumps([c.source.strip() for c in nb.cells if c.cell_type == "code"], ensure_ascii=False))


def _joined(value):
    return "".join(value) if isinstance(value, list) else value


def output_hashes(nb):
    """{code cell index (str): hash of its outputs}: output type, stream name and text, data (each MIME
    type), error name, value and traceback; not execution counts or output metadata."""
    hashes = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        records = []
        for out in cell.get("outputs", []):
            record = {"output_type": out.get("output_type")}
            for key in ("name", "text", "ename", "evalue", "traceback"):
                if key in out:
                    record[key] = _joined(out[key]) if key == "text" else out[key]
            if "data" in out:
                record["data"] = {mime: _joined(value) for mime, value in out["data"].items()}
            records.append(record)
        hashes[str(i)] = _hash(json.dumps(records, sort_keys=True, ensure_ascii=False))
    return hashes


def fingerprint(nb, modules, files, root=ROOT):
    """What the outputs of ``nb`` depend on: its code cells, ``modules`` (name -> 'ast' / 'text') and
    ``files`` (relative to ``root``), hashed from the tree at ``root``."""
    return {"cells": cells_hash(nb),
            "modules": {name: module_hash(name, mode, root) for name, mode in sorted(modules.items())},
            "files": {rel: file_hash(rel, root) for rel in sorted(files)}}


def stamp(nb, py_path, modules, files, fast=False, root=ROOT):
    """Write the build stamp into ``nb.metadata`` (code cells from ``py_path``) and return it."""
    nb.metadata[STAMP_KEY] = {"version": STAMP_VERSION, "fast": bool(fast),
                              **fingerprint(jupytext.read(py_path), modules, files, root),
                              "outputs": output_hashes(nb)}
    return nb.metadata[STAMP_KEY]


def _first_line(cell):
    line = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return line[:60] + ("…" if len(line) > 60 else "")


def stale(py_path, nb=None, root=ROOT):
    """Why the outputs of the .ipynb paired with ``py_path`` (or of ``nb``) are not what the current
    code at ``root`` would print: a list of messages, empty when the build stamp still holds."""
    py_path = Path(py_path)
    ipynb = py_path.with_suffix(".ipynb")
    if nb is None:
        if not ipynb.exists():
            return [f"{ipynb.name} is missing"]
        nb = jupytext.read(ipynb)
    recorded = nb.metadata.get(STAMP_KEY)
    if not recorded or recorded.get("version") != STAMP_VERSION:
        return [(f"{ipynb.name} has no build stamp (version {STAMP_VERSION}): it was not written by this "
                 "build.py, so nothing says which code its outputs come from")]
    modes = {name: value.split(":")[0] if ":" in value else "ast"
             for name, value in recorded.get("modules", {}).items()}
    current = fingerprint(jupytext.read(py_path), modes, recorded.get("files", {}), root)
    problems = []
    if current["cells"] != recorded.get("cells"):
        problems.append(f"code cells of {py_path.name} changed since the outputs were computed")
    for name, value in recorded.get("modules", {}).items():
        now = current["modules"][name]
        if now != value:
            what = ("no longer exists" if now == "missing" else
                    "changed (its text: the notebook read its source)" if value.startswith("text:")
                    else "changed (its code; docstrings and comments do not count)")
            problems.append(f"module {name} {what}")
    for rel, value in recorded.get("files", {}).items():
        now = current["files"][rel]
        if now != value:
            problems.append(f"file {rel} " + ("is missing" if now == "missing" else "changed"))
    outputs, built = output_hashes(nb), recorded.get("outputs", {})
    for key in sorted(set(outputs) | set(built), key=int):
        if outputs.get(key) != built.get(key):
            cell = nb.cells[int(key)] if int(key) < len(nb.cells) else None
            where = f" ({_first_line(cell)!r})" if cell is not None else ""
            problems.append(f"outputs of cell {key}{where} are not the ones the build wrote "
                            "(edited by hand, or from another run)")
    return problems


# ---------------------------------------------------------------------------------------------------
# Writing and checking

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


def markdown_words(path):
    """Words in the markdown cells of a notebook file (tokens between spaces with a letter or digit,
    so table rules and pipes do not count)."""
    return sum(1 for cell_type, source in cells(path) if cell_type == "markdown"
               for token in source.split() if re.search(r"[^\W_]", token))


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
    parser.add_argument("--check", action="store_true",
                        help="only check that every pair is in sync and every build stamp holds")
    args = parser.parse_args(argv)
    status = 0
    for py_path in sources(args.names):
        words = f"{markdown_words(py_path):,} words of markdown"
        if args.check:
            drifted = drift(py_path)
            old = [] if drifted and "missing" in drifted[0] else stale(py_path)
            lines = ([f"{py_path.name} ({words}): in sync, outputs current"] if not drifted and not old else
                     [f"{py_path.name} ({words}):"] + (["  DRIFTED"] + [f"    {p}" for p in drifted] if drifted else [])
                     + (["  STALE OUTPUTS"] + [f"    {p}" for p in old] if old else [])
                     + [f"  rebuild with: python notebooks/build.py {py_path.stem}"])
            print("\n".join(lines))
            status |= bool(drifted or old)
            continue
        start = time.perf_counter()
        nb = execute(py_path, fast=args.fast)
        out = py_path.with_suffix(".ipynb")
        write_ipynb(nb, out)
        print(f"{out.relative_to(ROOT)}  ({time.perf_counter() - start:.1f} s{', fast' if args.fast else ''}; "
              f"{words}; {len(nb.metadata[STAMP_KEY]['modules'])} minisparse modules, "
              f"{len(nb.metadata[STAMP_KEY]['files'])} files read)", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
