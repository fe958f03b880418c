"""Benchmark: bytes a first visit to a form page downloads (HTML, CSS, JS), as sent gzipped.

Goal for worker_intake: under 50 KB. Prints figures; never passes or fails.

    .venv/bin/python bench/page_weight.py [FORM_ID ...]
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forms_server.settings import Settings
from forms_server.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
ASSET = re.compile(r'<(?:script[^>]+src|link[^>]+href)="([^"]+)"')


def weigh(client: TestClient, path: str) -> list[tuple[str, int, int]]:
    """(url, bytes on the wire, bytes decoded) for the page and every asset it loads."""
    rows = []
    page = client.get(path, headers={"Accept-Encoding": "gzip"})
    rows.append((path, page.num_bytes_downloaded, len(page.content)))
    for url in ASSET.findall(page.text):
        if url.startswith("/"):
            asset = client.get(url, headers={"Accept-Encoding": "gzip"})
            rows.append((url, asset.num_bytes_downloaded, len(asset.content)))
    return rows


def main() -> None:
    form_ids = sys.argv[1:] or [
        "worker_intake",
        "needs_assessment",
        "osh_worksite_survey",
        "legal_aid_intake",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(forms_dir=ROOT / "form_definitions", data_dir=Path(tmp)))
        with TestClient(app) as client:
            for form_id in form_ids:
                rows = weigh(client, f"/forms/{form_id}?lang=zh-Hans")
                wire = sum(r[1] for r in rows)
                print(
                    f"{form_id}: {wire / 1024:.1f} KB on the wire "
                    f"({sum(r[2] for r in rows) / 1024:.1f} KB decoded)"
                    + ("   goal < 50 KB" if form_id == "worker_intake" else "")
                )
                for url, sent, decoded in rows:
                    print(f"    {sent / 1024:6.1f} KB  ({decoded / 1024:6.1f} KB)  {url}")


if __name__ == "__main__":
    main()
