"""Benchmark: form page renders per second, through the app (in process) and the template alone.

Prints figures; never passes or fails.

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forms_server.settings import Settings
from forms_server.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(forms_dir=ROOT / "form_definitions", data_dir=Path(tmp)))
        app.state.accounts.add("bench", "collector", "a long password")
        token = app.state.accounts.new_token("bench")
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            for form_id in sorted(app.state.forms):
                url = f"/forms/{form_id}?lang=zh-Hans"
                assert 'id="fs-form"' in client.get(url).text
                n = 200
                start = time.perf_counter()
                for _ in range(n):
                    assert client.get(url).status_code == 200
                elapsed = time.perf_counter() - start
                print(
                    f"{form_id:<22} {n / elapsed:7.0f} renders/s  "
                    f"({elapsed / n * 1000:.2f} ms per page, through the app in process)"
                )


if __name__ == "__main__":
    main()
