"""Every notebook follows the course's shape (NOTATION.md, "Notebook shape") and hygiene rules.

Structural checks only; the notebooks' outputs are validated by nbval and their exercises by
tests/test_solutions.py.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_shape(path):
    nb = nbformat.read(path, as_version=4)
    text = markdown(nb).lower()
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "starts with a title"
    assert "learning goals" in text, "has learning goals"
    assert "prerequisite" in text, "names its prerequisites"
    assert "check yourself" in text, "ends with a 'Check yourself' summary"
    assert "common mistake" in text, "has a 'Common mistake' box"
    first_code = code_cells(nb)[0].source
    assert "setup_notebook(" in first_code and "%matplotlib inline" in first_code, \
        "the first code cell sets up the notebook (seeds, threads, device) and inline figures"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_an_interactive_widget_and_a_figure(path):
    nb = nbformat.read(path, as_version=4)
    mimes = [set(o.get("data", {})) for c in code_cells(nb) for o in c.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in m for m in mimes), "renders a widget"
    assert any("image/png" in m for m in mimes), "shows a figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_executed_in_order_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in code_cells(nb) if c.source.strip()]
    assert all(n is not None for n in counts), "every code cell was executed"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), "executed top to bottom"
    for c in code_cells(nb):
        for o in c.outputs:
            assert o.output_type != "error", f"stored error output: {o.get('ename')}"
            assert o.get("name") != "stderr", f"stderr output (a warning?) in cell: {c.source[:60]!r}"


def test_hygiene_tool_reports_no_problems():
    tool = ROOT.parent / "shared" / "tools" / "check_notebooks.py"
    if not tool.exists():
        pytest.skip("../shared/tools/check_notebooks.py is not beside this checkout")
    run = subprocess.run([sys.executable, str(tool), str(ROOT / "notebooks")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_notebook_has_its_source():
    for path in NOTEBOOKS:
        assert (ROOT / "notebooks" / "src" / f"{path.stem}.py").exists(), f"{path.name} has no source in notebooks/src/"
