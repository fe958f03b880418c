"""Benchmark: bytes a first visit to a form page downloads (HTML, CSS, JS), as sent gzipped,
and the size of what the service worker then keeps to open the form offline (every
language's page and the static files, as the form's offline manifest lists them).

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
from forms_server.web.auth import SESSION_COOKIE

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


def offline_cache(client: TestClient, form_id: str) -> tuple[int, int, int]:
    """(bytes the cache stores, bytes its pages cost on the wire, number of entries).

    The Cache API stores bodies decoded. The static files are the ones the first visit
    loaded already (the browser's HTTP cache answers for them); every page is fetched.
    """
    manifest = client.get(f"/forms/{form_id}/offline.json")
    stored, wire = len(manifest.content), manifest.num_bytes_downloaded
    urls = manifest.json()["pages"] + manifest.json()["static"]
    for url in urls:
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        stored += len(response.content)
        if not url.startswith("/static/"):
            wire += response.num_bytes_downloaded
    return stored, wire, len(urls) + 1


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
            # Forms for collectors need a signed-in collector.
            user = app.state.accounts.add("bench", "collector", "a long password")
            client.cookies.set(SESSION_COOKIE, app.state.sessions.cookie_value(user))
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
                stored, wire, entries = offline_cache(client, form_id)
                print(
                    f"    offline cache: {stored / 1024:.1f} KB stored in {entries} entries "
                    f"(its pages: {wire / 1024:.1f} KB on the wire, after the first visit)"
                )


if __name__ == "__main__":
    main()
