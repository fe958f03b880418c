"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from forms_server.loader import load_forms
from forms_server.model import Form
from forms_server.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"


def create_app(settings: Settings) -> Starlette:
    """Build the app for ``settings``; raises FormError when a form has errors."""
    forms = load_forms(settings.forms_dir)
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

    async def home(request: Request) -> Response:
        lang = _language(request)
        return templates.TemplateResponse(
            request, "home.html", {"forms": list(forms.values()), "lang": lang}
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "forms": sorted(forms)})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        yield

    app = Starlette(
        routes=[Route("/", home), Route("/healthz", health)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.forms = forms
    return app


def _language(request: Request) -> str:
    """zh-Hans unless the person asked for English (query ?lang= or Accept-Language)."""
    asked = request.query_params.get("lang") or request.headers.get("accept-language", "")
    return "en" if asked.lower().startswith("en") else "zh-Hans"


def form_title(form: Form, lang: str) -> str:
    return form.text(form.title, lang)
