"""Run the answers of tests/answers/<name>.py through today's checker and say which surprise.

    python tools/try_answers.py [name ...]        (default: every tests/answers/*.py but _*.py)

Each WRONG answer is expected to FAIL and each VALID one to PASS (files whose name starts with ``_`` are
helpers, not answers). Prints one line per answer and a summary; exits 1 when any verdict is unexpected.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmrl_course.exercises import get_exercise, run_check

ANSWERS = Path(__file__).resolve().parent.parent / "tests" / "answers"


def last_function(src: str) -> str:
    names = [n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)]
    if not names:
        raise ValueError("the answer defines no function")
    return names[-1]


def verdict(name: str, src: str):
    ex = get_exercise(name)
    ns = {"torch": torch, "nn": nn, "F": F, "math": math, "np": np}
    if ex.solution_globals:
        ns.update(ex.solution_globals())
    exec(compile(src, f"<answer {name}>", "exec"), ns)
    with contextlib.redirect_stdout(io.StringIO()):   # answers that print are fine
        return run_check(ex, ns[last_function(src)])


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"answers_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.WRONG, mod.VALID


def main(names) -> int:
    paths = [ANSWERS / f"{n}.py" for n in names] if names else sorted(p for p in ANSWERS.glob("*.py") if not p.name.startswith("_"))
    surprises = 0
    for path in paths:
        wrong, valid = load(path)
        print(f"== {path.stem}: {len(wrong)} WRONG, {len(valid)} VALID")
        for kind, answers, want in (("WRONG", wrong, "FAIL"), ("VALID", valid, "PASS")):
            for label, src in answers.items():
                res = verdict(path.stem, src)
                ok = res.status == want
                surprises += not ok
                flag = "ok  " if ok else "BAD "
                print(f"  {flag}{kind} {res.status:<13} {label}")
                if not ok or kind == "WRONG" and res.status == "FAIL" and "-v" in sys.argv:
                    print("        " + res.message[:300])
    print("unexpected verdicts:", surprises)
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if not a.startswith("-")]))
