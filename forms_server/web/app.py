"""The Starlette application factory: ``create_app(settings)``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from forms_server.accounts import Accounts
from forms_server.audit import AuditLog
from forms_server.definition import form_definition, page_definition
from forms_server.i18n import translator
from forms_server.intake import Intake
from forms_server.loader import load_forms
from forms_server.publish import Publisher
from forms_server.queries import Queries
from forms_server.reviews import Reviews
from forms_server.settings import Settings
from forms_server.storage import Storage
from forms_server.web import api, collect, offline, research, signin, staff, staff_edit, submission
from forms_server.web.auth import Sessions, Throttle
from forms_server.web.errors import http_error
from forms_server.web.home import home
from forms_server.web.limits import BodyLimit
from forms_server.web.pdfs import close_pdfs, pdf_routes, setup_pdfs
from forms_server.web.security import Csrf, load_secret

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def create_app(settings: Settings) -> Starlette:
    """Build the app for ``settings``; raises FormError when a form has errors."""
    forms = load_forms(settings.forms_dir)
    storage = Storage(settings.data_dir / "forms.db")
    for form in forms.values():
        storage.ensure_schema(form)
    publisher = Publisher(storage, forms, settings.data_dir, ZoneInfo(settings.timezone))
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "forms": sorted(forms)})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        publisher.start()
        yield
        publisher.stop()
        close_pdfs(app)
        app.state.intake.close()
        storage.close()

    # The API first: the router tries routes in order, and devices post there most.
    routes = [
        Route("/api/forms", api.list_forms),
        Route("/api/forms/{form_id}", api.get_definition, name="api_form"),
        Route("/api/forms/{form_id}/submissions", api.post_submission, methods=["POST"]),
        Route(
            "/api/forms/{form_id}/submissions/{submission_id}",
            api.get_submission,
            name="api_submission",
        ),
        Route("/", home),
        Route("/healthz", health),
        Route("/login", signin.login_page, methods=["GET"]),
        Route("/login", signin.login, methods=["POST"]),
        Route("/logout", signin.logout, methods=["POST"]),
        Route("/forms/{form_id}", collect.form_page, methods=["GET"]),
        Route("/forms/{form_id}", collect.form_post, methods=["POST"], name="form_post"),
        Route("/forms/{form_id}/done/{submission_id}", collect.done_page, name="done"),
        Route("/forms/{form_id}/offline.json", offline.manifest),
        Route("/sw.js", offline.service_worker),
        *_STAFF_ROUTES,
        *pdf_routes(),
        Mount(research.PREFIX, research.mount(publisher.path, forms.values(), PACKAGE_DIR.parent)),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(_GZipPages, minimum_size=500),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers={HTTPException: http_error},
    )
    state = app.state
    state.settings = settings
    state.forms = forms
    state.templates = templates
    state.definitions = {form_id: form_definition(form) for form_id, form in forms.items()}
    state.page_definitions = {
        (form.id, lang): page_definition(form, lang)
        for form in forms.values()
        for lang in form.languages
    }
    state.translators = translator
    secret = load_secret(settings.secret_key, settings.data_dir)
    state.csrf = Csrf(secret)
    state.sessions = Sessions(secret)
    state.throttle = Throttle()
    state.accounts = Accounts(storage)
    state.audit = AuditLog(storage)
    state.reviews = Reviews(storage)
    state.queries = Queries(storage)
    state.publisher = publisher
    state.intake = Intake(storage, settings.data_dir, ZoneInfo(settings.timezone))
    setup_pdfs(app, storage)
    state.static_url = _static_urls()
    return app


#: The staff's pages and the collector's own submissions (forms_server.web.staff and beside).
_STAFF_ROUTES = [
    Route("/staff", staff.staff_index),
    Route("/staff/audit", staff.audit_page),
    Route("/staff/forms/{form_id}", staff.submissions_list),
    Route("/staff/submissions/{sid:uuid}", submission.staff_submission),
    Route("/staff/submissions/{sid:uuid}/review", submission.review_post, methods=["POST"]),
    Route("/staff/submissions/{sid:uuid}/edit", staff_edit.staff_edit_page, methods=["GET"]),
    Route("/staff/submissions/{sid:uuid}/edit", staff_edit.staff_edit_post, methods=["POST"]),
    Route("/staff/attachments/{sid:uuid}/{name}", submission.staff_attachment),
    Route("/my/submissions/{sid:uuid}", submission.my_submission),
    Route("/my/submissions/{sid:uuid}/edit", staff_edit.my_edit_page, methods=["GET"]),
    Route("/my/submissions/{sid:uuid}/edit", staff_edit.my_edit_post, methods=["POST"]),
    Route("/my/attachments/{sid:uuid}/{name}", submission.my_attachment),
]


class _GZipPages:
    """gzip for pages and files, not for API writes: their replies are a few bytes."""

    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
        else:
            await self.gzip(scope, receive, send)


def _static_urls() -> Callable[[str], str]:
    """``/static/<path>?v=<content hash>``, so a new version is never served from cache."""
    versions = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }

    def url(path: str) -> str:
        return f"/static/{path}?v={versions.get(path, '0')}"

    return url
