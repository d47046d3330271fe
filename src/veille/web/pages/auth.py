"""Login, logout and the language switch.

The login form carries a CSRF token bound to a short-lived cookie (there is no session yet);
failures are counted per account (lockout) and per client address (rate limit), and audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veille.store.accounts import User
from veille.web.auth import (
    CSRF_FIELD,
    Principal,
    Public,
    Require,
    new_secret,
    same,
    session_cookie,
    verify_password,
)
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.i18n import COOKIE, LANGUAGES, N_
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "veille_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or ``https://…``): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", dependencies=[Depends(Public())])
def login_page(request: Request, next: str = "/") -> Response:
    web: Web = request.app.state.web
    token = new_secret()
    response = render(
        request,
        "login.html",
        title="Log in",
        next=safe_next(next),
        login_csrf=token,
        error="",
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=web.secure(request),
        path="/login",
    )
    return response


def _refuse(request: Request, next_path: str, message: str, status: int) -> Response:
    token = new_secret()
    web: Web = request.app.state.web
    response = render(
        request,
        "login.html",
        status=status,
        title="Log in",
        next=next_path,
        login_csrf=token,
        error=message,
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=web.secure(request),
        path="/login",
    )
    return response


def start_session(web: Web, request: Request, response: Response, user: User) -> None:
    """Open a session for ``user`` and set its cookie (HttpOnly, SameSite=Lax, Secure on TLS)."""
    token, csrf = new_secret(), new_secret()
    web.accounts.create_session(user, token, csrf, web.session_lifetime)
    response.set_cookie(
        session_cookie(web, request),
        token,
        max_age=int(web.session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=web.secure(request),
        path="/",
    )


@router.post("/login", dependencies=[Depends(Public())])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    web: Web = request.app.state.web
    next_path = safe_next(next)
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not csrf_token or not same(cookie, csrf_token):
        return _refuse(request, next_path, N_("The form expired: please try again."), 403)
    if not web.login_limiter.hit(_client(request)):
        web.record("anonymous", "auth.throttled", username[:64], client=_client(request))
        return _refuse(request, next_path, N_("Too many attempts: wait a minute."), 429)
    user = web.accounts.user(username.strip().lower()[:64])
    now = web.clock()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(None, password)  # same time as a real check
        web.record("anonymous", "auth.locked", user.username, client=_client(request))
        return _refuse(
            request, next_path, N_("Wrong username or password, or account locked."), 401
        )
    if user is None or user.disabled or not verify_password(user, password):
        if user is not None and not user.disabled:
            conf = web.settings.web
            web.accounts.login_failed(
                user, limit=conf.login_attempts, lock_for=timedelta(minutes=conf.lockout_minutes)
            )
        web.record("anonymous", "auth.failed", username[:64], client=_client(request))
        return _refuse(
            request, next_path, N_("Wrong username or password, or account locked."), 401
        )
    web.accounts.login_succeeded(user)
    response = RedirectResponse(next_path, status_code=303)
    response.delete_cookie(LOGIN_CSRF, path="/login")
    start_session(web, request, response, user)
    web.record(
        user.username, "auth.login", user.username, client=_client(request), method="password"
    )
    return response


@router.post("/logout")
async def logout(
    request: Request, who: Annotated[Principal, Depends(Require(Permission.SELF, page=True))]
) -> Response:
    web: Web = request.app.state.web
    name = session_cookie(web, request)
    token = request.cookies.get(name)
    if token:
        await run_in_threadpool(web.accounts.end_session, token)
    await run_in_threadpool(web.record, who, "auth.logout", who.actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(name, path="/")
    return response


@router.get("/lang/{code}", dependencies=[Depends(Public())])
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    """Remember the chosen language in a cookie and go back."""
    if code not in LANGUAGES:
        raise ApiError(404, f"no language {code[:8]!r}")
    web: Web = request.app.state.web
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE, code, max_age=365 * 86400, samesite="lax", secure=web.secure(request), path="/"
    )
    return response
