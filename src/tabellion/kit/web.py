"""Server-rendered pages: templates with autoescape, CSRF tokens, security headers.

Pages are for outsiders (recipients, customers' contacts, new users), so every template
escapes by default, every form carries a CSRF token bound to a cookie, and every page is sent
with a strict Content-Security-Policy (no inline script), no framing and no referrer (tokens
live in URLs).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from babel.dates import format_timedelta
from fastapi import Request
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tabellion.db import SessionRoute
from tabellion.errors import Forbidden
from tabellion.kit.ratelimit import RateLimited
from tabellion.kit.tokens import hmac_sha256, made_with_any

CSRF_COOKIE = "tbl_csrf"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        # font-src: the signing page's typed-signature font (static/fonts), else refused.
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
        "font-src 'self'; "
        # connect-src: the signing page's passkey step fetches its WebAuthn options.
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def page_environment(*packages: str) -> Environment:
    loaders = [PackageLoader(p, "templates") for p in (*packages, "tabellion.portal")]
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # English unless a page passes its language's gettext in the context (portal.i18n).
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


class CsrfFailed(Forbidden):
    code = "csrf-failed"
    title = "The form expired"


def _signature(signing_key: bytes, nonce: str) -> str:
    return hmac_sha256(signing_key, "csrf:" + nonce).hex()


def csrf_token(request: Request, signing_key: bytes) -> str:
    """The token for this browser's forms; the nonce cookie is set by ``PageRoute``."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        request.state.csrf_nonce = nonce
    return _signature(signing_key, nonce)


def check_csrf(request: Request, keys: Sequence[bytes], submitted: str | None) -> None:
    """The form's token must be this browser's, made with one of ``keys`` (the secret key,
    then earlier ones still accepted: a form opened before a key change can be sent)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        raise CsrfFailed("The form is missing its security token; reload the page and retry.")
    if not made_with_any(keys, lambda key: _signature(key, nonce), submitted):
        raise CsrfFailed("The form's security token is not valid; reload the page and retry.")


class SeeOther(Exception):
    """Raised by a page or its dependency to send the browser to ``location`` (303): a page
    for signed-in people sends the others to the sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageRoute(SessionRoute):
    """A SessionRoute for HTML pages: security headers, and the CSRF cookie when minted."""

    pages_write = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except RateLimited as exc:
                # A person, not a program: a page in their language, not a problem document.
                response = rate_limited_page(request, exc)
            except SeeOther as exc:
                response = RedirectResponse(exc.location, status_code=303)
            response.headers.update(SECURITY_HEADERS)
            nonce = getattr(request.state, "csrf_nonce", None)
            if nonce:
                response.set_cookie(
                    CSRF_COOKIE,
                    nonce,
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https",
                    max_age=12 * 3600,
                )
            return response

        return handler


_ERROR_PAGES = page_environment()


def _page_to_return_to(path: str) -> str:
    """The page whose form was throttled (the paths posted to have no page of their own)."""
    if path.startswith(("/r/", "/s/")):
        return "/".join(path.split("/")[:3])
    if path.startswith("/vault"):
        return "/vault"
    return path


def rate_limited_page(request: Request, error: RateLimited) -> HTMLResponse:
    """The 429 of a page: how long to wait, in the visitor's language, with Retry-After."""
    from tabellion.portal import i18n

    language = i18n.request_language(request)
    wait = format_timedelta(
        timedelta(seconds=error.retry_after), threshold=1.5, format="long", locale=language
    )
    response = i18n.page(
        _ERROR_PAGES,
        request,
        "rate_limited.html",
        language=language,
        csrf="",
        status_code=error.status,
        wait=wait,
        back=_page_to_return_to(request.url.path),
    )
    response.headers.update(error.headers)
    return response


def render(
    env: Environment, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**context), status_code=status_code)
