"""Errors to responses, in one place: JSON for the API and JSON clients, HTML for people."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

_TITLES = {
    400: ("请求无效", "Bad request"),
    403: ("无权访问", "Forbidden"),
    404: ("页面不存在", "Not found"),
    405: ("不支持此操作", "Method not allowed"),
    409: ("提交冲突", "Conflict"),
    413: ("提交内容太大", "Request too large"),
    415: ("不支持的内容类型", "Unsupported media type"),
    422: ("提交内容有误", "Unprocessable submission"),
}


class Problem(HTTPException):
    """An HTTP error with a message for people and optional details for programs."""

    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(status_code=status, detail=message)
        self.extra = detail


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    zh, en = _TITLES.get(status, ("出错了", "Error"))
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else en
    if status == 401 and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    if wants_json(request):
        body: dict[str, Any] = {"error": message, "status": status}
        body.update(getattr(exc, "extra", {}))
        return JSONResponse(body, status_code=status, headers=exc.headers)
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title_zh": zh, "title_en": en, "message": message, "lang": "zh-Hans"},
        status_code=status,
    )
    return response


def plain_error(status: int, message: str) -> Response:
    """For the ASGI middleware, before a request object exists."""
    return HTMLResponse(message, status_code=status)
