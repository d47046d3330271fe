"""Response headers that make hostile content inert and keep personal data out of caches.

The Content-Security-Policy allows scripts and styles from this origin only: no inline script,
no ``eval``, no third-party host. Whatever a post's text manages to smuggle into a page, the
browser will not run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(form_origins: Iterable[str] = ()) -> str:
    """The policy; ``form_origins`` may receive forms besides this origin (with single
    sign-on, the logout form is redirected to the provider, which ``form-action`` governs)."""
    form_action = " ".join(("'self'", *form_origins))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


CSP: Final = content_security_policy()

HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS: Final = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """ASGI middleware (streaming-safe, so SSE keeps flowing) adding the headers above.

    ``csp`` gives the Content-Security-Policy of the moment (it follows the configuration).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        force_hsts: bool = False,
        csp: Callable[[], str] = lambda: CSP,
    ) -> None:
        self.app = app
        self.force_hsts = force_hsts
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        tls = scope.get("scheme") == "https" or self.force_hsts

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.csp().encode()))
                if tls:
                    headers.append(HSTS)
                if not path.startswith("/static/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)
