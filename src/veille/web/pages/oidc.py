"""Single sign-on: ``/login/oidc`` sends the browser to the provider, the callback comes back.

Both routes answer 404 while ``[web.oidc]`` is off. Every login and every refusal is audited
(``auth.login`` / ``auth.failed`` with ``method = "oidc"`` and the reason).
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from veille.web.auth import Public
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.i18n import N_
from veille.web.oidc import CALLBACK, FLOW_COOKIE, Kind, OidcClient, OidcError, admit, identity
from veille.web.pages.auth import client_address, logged_in, login_form, safe_next

router = APIRouter(include_in_schema=False)

MESSAGES: Final[dict[Kind, str]] = {
    "failed": N_("Single sign-on failed: please try again."),
    "unavailable": N_("Single sign-on is unavailable right now: please try again later."),
    "no_role": N_("Your account at the identity provider gives no access to veille."),
    "no_account": N_("There is no veille account for you: ask an administrator."),
    "disabled": N_("Your veille account is disabled."),
}
STATUS: Final[dict[Kind, int]] = {
    "failed": 401,
    "unavailable": 502,
    "no_role": 403,
    "no_account": 403,
    "disabled": 403,
}


def _client_of(request: Request) -> tuple[Web, OidcClient]:
    web: Web = request.app.state.web
    if web.oidc is None:
        raise ApiError(404, "single sign-on is not configured ([web.oidc])")
    return web, web.oidc


def _refused(request: Request, web: Web, error: OidcError, next_path: str = "/") -> Response:
    web.record(
        "anonymous",
        "auth.failed",
        "",
        client=client_address(request),
        method="oidc",
        reason=error.reason,
    )
    response = login_form(request, next_path, MESSAGES[error.kind], STATUS[error.kind])
    response.delete_cookie(FLOW_COOKIE, path="/login/oidc")
    return response


@router.get("/login/oidc", dependencies=[Depends(Public())])
def oidc_start(request: Request, next: str = "/") -> Response:
    """Send the browser to the provider, remembering state, nonce and PKCE verifier."""
    web, oidc = _client_of(request)
    next_path = safe_next(next)
    try:
        url, flow = oidc.start(next_path)
    except OidcError as error:
        return _refused(request, web, error, next_path)
    response = RedirectResponse(url, status_code=303)
    # SameSite=Lax: the provider sends the browser back with a top-level GET from its site.
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        max_age=web.settings.web.oidc.max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=web.secure(request),
        path="/login/oidc",
    )
    return response


@router.get(CALLBACK, dependencies=[Depends(Public())])
def oidc_callback(request: Request) -> Response:
    """The provider's answer: check it, find or create the account, open a session."""
    web, oidc = _client_of(request)
    if not web.login_limiter.hit(client_address(request)):
        return _refused(request, web, OidcError("too many attempts from this address"))
    params = {k: v[:4096] for k, v in request.query_params.items()}
    try:
        flow = oidc.flow(request.cookies.get(FLOW_COOKIE))
    except OidcError as error:
        return _refused(request, web, error)
    try:
        claims = oidc.finish(flow, params)
        who = identity(web.settings.web.oidc, claims)
        user, created = admit(web.accounts, web.settings.web.oidc, who)
    except OidcError as error:
        return _refused(request, web, error, flow.next)
    if created:
        web.record(
            "oidc", "user.add", user.username, role=user.role, oidc=True, subject=who.subject
        )
    return logged_in(
        web,
        request,
        user,
        safe_next(flow.next),
        (FLOW_COOKIE, "/login/oidc"),
        "oidc",
        subject=who.subject,
        role=who.role,
        teams=sorted(who.teams),
        values=list(who.values),
    )
