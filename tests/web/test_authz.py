"""Deny by default: every route declares who may use it, and every role gets exactly that."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from veille.web.app import route_table
from veille.web.auth import Public, Require
from veille.web.authz import ROLE_PERMISSIONS, Permission

from .conftest import Env


def _guards(dependant: Any) -> list[object]:
    found = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, Require | Public):
            found.append(dep.call)
        found += _guards(dep)
    return found


def routes(env: Env) -> list[tuple[str, str, Require | Public]]:
    out = []
    for path, methods, route in route_table(env.app):
        if not isinstance(route, APIRoute):
            continue
        guards = _guards(route.dependant)
        assert len(guards) == 1, f"{sorted(methods)} {path} must declare exactly one guard"
        for method in sorted(methods - {"HEAD"}):
            out.append((method, path, guards[0]))
    return out


OPEN_BY_FASTAPI = {"/api/openapi.json"}
"""Routes FastAPI itself adds: the schema is public (it describes, it holds no data)."""


def test_every_route_declares_a_guard(env: Env) -> None:
    table = route_table(env.app)
    unguarded = [
        (path, sorted(m))
        for path, m, route in table
        if not isinstance(route, APIRoute) and path not in OPEN_BY_FASTAPI | {"/static"}
    ]
    assert unguarded == []
    assert len(routes(env)) > 30


def _call(client: Any, method: str, path: str) -> Any:
    concrete = re.sub(r"\{[^}]+\}", "999999", path)
    if method in ("GET", "DELETE"):
        return client.request(method, concrete, follow_redirects=False)
    return client.request(method, concrete, json={}, follow_redirects=False)


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer", "anonymous"])
def test_authorisation_matrix(env: Env, role: str) -> None:
    client = env.client() if role == "anonymous" else env.api(role)
    held = ROLE_PERMISSIONS.get(role, frozenset())  # type: ignore[call-overload]
    failures = []
    for method, path, guard in routes(env):
        response = _call(client, method, path)
        status = response.status_code
        if isinstance(guard, Public):
            ok = status not in (401, 403)
        elif role == "anonymous":
            ok = (
                status == 401
                if not guard.page
                else (status == 303 and response.headers["location"].startswith("/login"))
            )
        elif guard.permission in held:
            ok = status not in (401, 403)
        else:
            ok = status == 403
        if not ok:
            failures.append(f"{role} {method} {path} -> {status}")
    assert failures == []


def test_roles_are_nested() -> None:
    viewer, analyst, admin = (ROLE_PERMISSIONS[r] for r in ("viewer", "analyst", "admin"))
    assert viewer < analyst < admin
    assert Permission.ADMIN in admin
    assert Permission.ADMIN not in analyst
    assert Permission.TRIAGE not in viewer
