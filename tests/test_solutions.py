"""The solutions run: every notebook, with its exercise cells replaced by the registered solutions,
must execute and every checker in it must then print [PASS].

This catches a checker that can never pass, a solution that drifted from its exercise, and an
exercise cell whose name is not registered. Cells tagged ``solutions-skip`` (slow cells that no
exercise depends on) are left out, and so is everything after the last check cell.
"""
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lmrl_course.device import REPRODUCIBLE_CPU_ENV
from lmrl_course.exercises import get_exercise

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
EXERCISE_LINE = re.compile(r"^#\s*EXERCISE:\s*(\w+)", re.M)
CHECK_CALL = re.compile(r"\bcheck\(\s*[\"'](\w+)[\"']")


def exercise_cells(nb):
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", []):
            m = EXERCISE_LINE.search(cell.source)
            yield i, (m.group(1) if m else None)


def solutions_notebook(nb):
    """A copy of ``nb`` with solutions in the exercise cells, cut after the last check cell."""
    nb = nbformat.from_dict(nb)
    for i, name in exercise_cells(nb):
        assert name, f"cell {i} is tagged 'exercise' but has no '# EXERCISE: name' first line"
        nb.cells[i].source = f"# EXERCISE: {name} (solution)\n" + get_exercise(name).solution
    last_check = max((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and CHECK_CALL.search(c.source)),
                     default=-1)
    nb.cells = [c for i, c in enumerate(nb.cells) if i <= last_check
                and "solutions-skip" not in c.metadata.get("tags", [])]
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb


def plain_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_exercises_pass_with_solutions(path, monkeypatch):
    for name in REPRODUCIBLE_CPU_ENV:  # outputs are not compared here: the kernel may use the fast CPU kernels
        monkeypatch.delenv(name, raising=False)
    original = nbformat.read(path, as_version=4)
    names = [name for _, name in exercise_cells(original)]
    if path.stem != "00_start_here":
        assert len(names) >= 2, f"{path.name} should have at least two exercises, found {names}"
    else:
        assert names, f"{path.name} has no exercise"
    nb = solutions_notebook(original)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    checked = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for name in CHECK_CALL.findall(cell.source):
            checked.append(name)
            text = plain_text(cell)
            assert f"[PASS] {name}" in text, f"{path.name}: check of {name!r} did not pass:\n{text}"
    assert sorted(set(checked)) == sorted(set(names)), f"exercises {names} vs checks {checked}"


def test_committed_notebooks_leave_exercises_unattempted():
    """The committed notebooks are for learners: every exercise cell still raises NotImplementedError."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, name in exercise_cells(nb):
            assert "raise NotImplementedError" in nb.cells[i].source, f"{path.name} cell {i} ({name}) is solved"
