"""axe-core on the console: no serious or critical violation on the login, home and list pages, on
a laptop (1366x768) and on a phone (390x844).

axe-core is the npm package pinned in package.json (`npm ci` puts it in node_modules/). With
CI=true a missing axe-core fails the test, as a missing Chromium does (tests/e2e/conftest.py);
elsewhere it skips with the command to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import TeamMember
from tests.e2e.conftest import VIEWPORTS, _in_ci, launched_chromium
from tests.factories import create_fan, create_talent, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests" / "e2e" / "screenshots"  # ignored by git

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " -> " + (n.failureSummary || "").split("\\n").join(" ")),
  }));
}"""


def _need(path: Path, message: str) -> None:
    if path.exists():
        return
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def axe_source() -> str:
    _need(AXE, f"{AXE} not found: run `npm ci` at the repository root (axe-core is pinned in package.json)")
    return AXE.read_text()


@pytest.fixture(params=sorted(VIEWPORTS))
def console_page(request, monkeypatch):
    phone = request.param == "phone"
    with launched_chromium(monkeypatch) as chromium:
        # bypass_csp: the test injects axe-core as an inline script, which the console's CSP (rightly)
        # refuses; the policy itself is tested in tests/e2e/test_csp_in_browser.py.
        context = chromium.new_context(
            viewport=VIEWPORTS[request.param], is_mobile=phone, has_touch=phone, bypass_csp=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.viewport_name = request.param
        try:
            yield page
        finally:
            context.close()


def _violations(page, axe_source: str, name: str) -> list[str]:
    page.add_script_tag(content=axe_source)
    found = page.evaluate(RUN_AXE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}-{page.viewport_name}.png"), full_page=True)
    problems = [
        f"{name} [{page.viewport_name}] {v['impact']}: {v['id']} ({v['help']}) at {'; '.join(v['nodes'])}"
        for v in found
        if v["impact"] in BLOCKING
    ]
    if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        problems.append(f"{name} [{page.viewport_name}]: the page scrolls sideways")
    return problems


def test_console_login_home_and_list_pages_pass_axe(live_server, console_page, axe_source):
    talent = create_talent("nova-a11y", display_name="Nova Ray")
    other = create_talent("rival-a11y", display_name="Rival Act")
    owner = create_user("olivia_a11y", password="a-long-test-password")
    TeamMember.objects.create(user=owner, talent=talent, role=TeamMember.Role.OWNER)
    TeamMember.objects.create(user=owner, talent=other, role=TeamMember.Role.MANAGER)  # the switcher shows
    for i in range(3):
        create_fan(talent, f"+1415555{i:04d}", first_name=f"Fan{i}", city="Oakland")

    page = console_page
    problems = []
    page.goto(live_server.url + "/admin/login/")
    problems += _violations(page, axe_source, "login")

    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "a-long-test-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".fc-talent >> visible=true", timeout=30_000)
    assert page.url == live_server.url + "/admin/"
    assert page.locator(".fc-talent:visible").count() == 1, "the current talent is in the header"
    problems += _violations(page, axe_source, "home")

    page.goto(live_server.url + "/admin/accounts/fan/")
    assert "Fan0" in page.content()
    problems += _violations(page, axe_source, "fans")

    assert not problems, "\n".join(problems)
