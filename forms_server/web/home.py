"""The home page, by who is asking.

Anyone sees the public forms and a sign-in link. A collector sees the forms they may
fill and their own submissions of the last days, those with issues first, each with the
latest review comment. Staff and admins get links to their pages, researchers to /data.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from forms_server.accounts import RECENT_DAYS, can
from forms_server.queries import Queries
from forms_server.web.access import page_language, render
from forms_server.web.auth import current_user


async def home(request: Request) -> Response:
    user = current_user(request)
    lang = page_language(request)
    forms = request.app.state.forms
    fillable = [form for form in forms.values() if form.access == "public" or can(user, "fill")]
    recent: list[dict[str, Any]] = []
    if user is not None and can(user, "fill"):
        queries: Queries = request.app.state.queries
        recent = await run_in_threadpool(queries.recent_by, user.username)
        for row in recent:
            form = forms.get(row["form_id"])
            row["form_title"] = form.text(form.title, lang) if form else row["form_id"]
    context = {
        "forms": fillable,
        "issues": [row for row in recent if row["review_status"] == "has_issues"],
        "recent": recent,
        "recent_days": RECENT_DAYS,
        "may_fill": can(user, "fill"),
        "may_review": can(user, "review"),
        "may_audit": can(user, "audit"),
        "may_research": can(user, "research"),
    }
    return render(request, "home.html", lang, context, user=user)
