"""The browser's evaluator, forms_server/static/expr.js, against the shared vectors.

The Node test in tests/js/ evaluates every vector of tests/expressions/vectors.json
with expr.js, on the ASTs that the Python parser makes; these tests run it and make
sure it ran every vector. Node.js is part of the test setup (scripts/bootstrap
--test installs it), so a missing node is a failure, not a skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS_TESTS = tuple(sorted((ROOT / "tests" / "js").glob("*.test.mjs")))
EXPR_TEST = ROOT / "tests" / "js" / "expr.test.mjs"
VECTORS = json.loads((ROOT / "tests" / "expressions" / "vectors.json").read_text("utf-8"))
#: The summary line of node's TAP reporter ('# pass 12'), or of its spec reporter.
_PASS_LINE = re.compile(r"^(?:#|ℹ) pass (\d+)\s*$", re.MULTILINE)


@functools.cache
def _node_run(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: the JavaScript evaluator cannot be tested. "
            "Install Node.js 18 or later (scripts/bootstrap --test does).",
            pytrace=False,
        )
    # The files, not the directory: from Node 21 on, the arguments are glob patterns.
    return subprocess.run(
        [node, "--test", *(str(path) for path in files)],
        cwd=ROOT,
        env={**os.environ, "FORMS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _failures(output: str) -> str:
    """The 'not ok' entries of node's TAP output, with their diagnostics."""
    shown: list[str] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("not ok"):
            shown.append(line)
            for detail in lines[i + 1 :]:
                if "(node:" not in detail:  # node's own stack frames say nothing here
                    shown.append(detail)
                if detail.strip() == "...":
                    break
    return "\n".join(shown[:400])


def test_the_vectors_test_is_there() -> None:
    assert EXPR_TEST in JS_TESTS


def test_javascript_tests_pass() -> None:
    run = _node_run(*JS_TESTS)
    assert run.returncode == 0, (
        f"node --test tests/js/ exited with {run.returncode}\n"
        f"-- failures --\n{_failures(run.stdout) or run.stdout[-20000:]}\n"
        f"-- stderr --\n{run.stderr[-5000:]}\n"
        f"-- summary --\n{run.stdout[-400:]}"
    )


def test_javascript_run_counts_every_vector() -> None:
    run = _node_run(EXPR_TEST)  # one test per vector, and no other
    match = _PASS_LINE.search(run.stdout)
    assert match is not None, f"no '# pass N' line in node's output:\n{run.stdout[-3000:]}"
    assert int(match.group(1)) == len(VECTORS["vectors"]), (
        f"node passed {match.group(1)} tests; vectors.json has {len(VECTORS['vectors'])} vectors"
    )
