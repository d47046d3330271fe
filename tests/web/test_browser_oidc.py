"""Single sign-on in Debian's Chromium: the login page's button, the provider, back to veille
logged in, then logout through the provider. Screenshots go to the test's output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.testing import FakeClock

from .browser import Watch, chromium, live_server
from .conftest import make_env
from .oidc_provider import serve
from .test_oidc import with_oidc

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_single_sign_on_in_a_browser(tmp_path: Path, clock: FakeClock) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    env = make_env(tmp_path, clock)
    with (
        serve(lambda: int(clock().timestamp())) as provider,
        live_server(env.app) as base,
        chromium() as browser,
    ):
        provider.reset(groups=["veille-analysts", "cell-members"], name="Anne Dupont")
        with_oidc(env, provider, base_url=base, button="Police SSO")
        page = browser.new_page()
        watch = Watch()
        watch.attach(page)
        page.goto(f"{base}/login?next=/rules")
        page.screenshot(path=str(shots / "1-login.png"), full_page=True)
        page.click("text=Police SSO")
        page.wait_for_url(f"{base}/rules")
        assert "anne.dupont" in page.content()
        page.screenshot(path=str(shots / "2-logged-in.png"), full_page=True)
        assert provider.calls[:3] == ["discovery", "authorize", "token"]
        page.click("header form[action='/logout'] button")
        page.wait_for_url(f"{base}/login")
        assert provider.calls[-1] == "logout"
        page.goto(f"{base}/rules")
        page.wait_for_url(f"{base}/login?next=/rules")
        page.screenshot(path=str(shots / "3-logged-out.png"), full_page=True)
        assert watch.clean(), (watch.dialogs, watch.errors)
        login = env.store_audit().entries(action="auth.login")
        assert [(e.actor, e.detail["method"]) for e in login] == [("anne.dupont", "oidc")]
    env.store.close()
