"""What a phone keeps to fill forms without a connection: the service worker and a
form's offline manifest (see docs/offline.md).

The manifest lists every URL the service worker caches for one form, each language's
page and the static files, under a version that changes whenever any of them would:
the form, the static files, the templates or the interface's words.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from forms_server import i18n
from forms_server.web.collect import get_form

_HERE = Path(__file__).resolve().parent
_STATIC_DIR = _HERE.parent / "static"
_TEMPLATES_DIR = _HERE.parent.parent / "templates"
#: The static files a form page loads.
FORM_ASSETS = ("forms.css", "expr.js", "forms.js", "offline.js")
#: The templates a form page is rendered from.
_PAGE_TEMPLATES = ("base.html", "form.html", "questions.html")


async def service_worker(request: Request) -> Response:
    """``/sw.js``: served from the root so that it may control ``/forms/``; never cached,
    so a new version reaches phones on their next visit."""
    return FileResponse(
        _STATIC_DIR / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/forms/"},
    )


async def manifest(request: Request) -> Response:
    """``/forms/{form_id}/offline.json``: what to cache for this form, and its version."""
    form = get_form(request)
    state = request.app.state
    pages = [f"/forms/{quote(form.id)}?lang={quote(lang)}" for lang in form.languages]
    static = [state.static_url(name) for name in FORM_ASSETS]
    digest = hashlib.sha256()
    digest.update(json.dumps(state.definitions[form.id], sort_keys=True).encode())
    digest.update("\n".join(static).encode())
    digest.update(_pages_fingerprint().encode())
    body = {
        "form": form.id,
        "form_version": form.version,
        "version": f"{form.version}-{digest.hexdigest()[:12]}",
        "languages": list(form.languages),
        "pages": pages,
        "static": static,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@lru_cache(maxsize=1)
def _pages_fingerprint() -> str:
    """A hash of what every form page is made from besides the form: templates and words."""
    digest = hashlib.sha256()
    for name in _PAGE_TEMPLATES:
        digest.update((_TEMPLATES_DIR / name).read_bytes())
    digest.update(json.dumps(i18n.MESSAGES, sort_keys=True).encode())
    return digest.hexdigest()
