"""The command line, run as a person runs it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from forms_server.cli import main

from .conftest import FORMS_DIR

LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>[EW]\d{3}) .+", re.M)
BROKEN = """
    id: broken
    version: 1
    title: Broken
    questions:
      - {name: age, type: integer, label: Age}
      - {name: years, type: integer, label: Years, relevant: '${ag} > 1'}
      - {name: sector, type: select_one, choices: sector, label: Sector}
    """


def test_check_sample_forms_exits_zero() -> None:
    result = CliRunner().invoke(main, ["check", str(FORMS_DIR)])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output
    assert not [m for m in LINE.finditer(result.output) if m["code"].startswith("E")]


def test_check_reports_every_error_located(write_form: Callable[[str, str], Path]) -> None:
    path = write_form(BROKEN, "broken.yaml")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    found = [(m["path"], int(m["line"]), m["code"]) for m in LINE.finditer(result.output)]
    assert found == [(str(path), 6, "E504"), (str(path), 7, "E401")]
    assert "did you mean 'age'?" in result.output


def test_check_json(write_form: Callable[[str, str], Path]) -> None:
    path = write_form(BROKEN, "broken.yaml")
    result = CliRunner().invoke(main, ["check", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["errors"] == 2
    first = report["problems"][0]
    assert (first["code"], first["line"], first["question"]) == ("E504", 6, "years")
    assert first["severity"] == "error" and first["hint"]


def test_check_an_empty_directory_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no form files" in result.output


def test_forms_lists_forms(tmp_path: Path) -> None:
    shutil.copytree(FORMS_DIR, tmp_path / "forms")
    result = CliRunner().invoke(main, ["forms", "--forms-dir", str(tmp_path / "forms")])
    assert result.exit_code == 0, result.output
    assert "worker_intake" in result.output


def test_serve_refuses_a_broken_form(write_form: Callable[[str, str], Path]) -> None:
    path = write_form(BROKEN, "broken.yaml")
    result = CliRunner().invoke(main, ["serve", "--forms-dir", str(path.parent)])
    assert result.exit_code == 1
    assert "E504" in result.output and "refusing to start" in result.output


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "forms-server"
    done = subprocess.run(
        [str(exe), "check", str(FORMS_DIR), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("flag", "logged"), [([], False), (["--access-log"], True)])
def test_serve_keeps_no_access_log_unless_asked(
    tmp_path: Path, flag: list[str], logged: bool
) -> None:
    exe = Path(sys.executable).parent / "forms-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [str(exe), "serve", "--forms-dir", str(FORMS_DIR), "--data-dir", str(tmp_path)]
    server = subprocess.Popen(
        [*argv, "--port", str(port), *flag],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/healthz?probe=1", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert reply.status_code == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "serving on" in output
    assert ("GET /healthz?probe=1" in output) == logged, output


def test_users_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--data-dir", str(tmp_path)]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["users", *args, *where])
        return result.exit_code, result.output

    assert run("add", "wangfang", "--role", "collector", "--password", "a long password")[0] == 0
    code, output = run("add", "wangfang", "--role", "staff", "--password", "a long password")
    assert code == 1 and "exists already" in output
    assert run("add", "li", "--role", "staff", "--password", "short")[0] == 1
    assert run("set-role", "wangfang", "staff")[1].strip() == "wangfang is now staff"
    code, token = run("token", "wangfang")
    assert code == 0 and token.startswith("fs_")
    assert run("disable", "wangfang")[0] == 0
    assert "wangfang                 staff (disabled)" in run("list")[1]
    assert run("set-password", "nobody", "--password", "a long password")[0] == 1
