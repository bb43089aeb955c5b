"""The page in Debian's headless Chromium (Selenium + chromedriver, never a downloaded browser):
sign in, watch approvals appear without a reload, approve / deny / edit, while the turns are
owned by other processes that continue them; and a model's HTML in tool arguments stays inert.

`OPSCOPILOT_SCREENSHOTS=DIR pytest tests/web/test_browser.py` also saves the phone and desktop
screenshots kept in docs/.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opscopilot.store import Store
from tests.support import system_packages
from tests.web.conftest import LiveServer, owner_outcome, start_owner
from tests.web.test_page_security import SCRIPT_ARGS, plant_approval

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
PHONE = (390, 844)
DESKTOP = (1280, 800)
WAIT_S = 30


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    chromium = system_packages.require("chromium")
    chromedriver = system_packages.require("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser, live_server: LiveServer) -> Iterator[object]:
    """The session's browser for one test; it leaves the page (closing its event stream) after."""
    yield browser
    browser.get("about:blank")


def _wait(driver, condition, what: str):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)  # pages being replaced
    return WebDriverWait(driver, WAIT_S, 0.05, ignored).until(condition, what)


def _decided(driver, approval_id: str, status: str) -> None:
    """Wait for the page the decision's form led to, saying so."""
    from selenium.webdriver.common.by import By

    said = f"({approval_id}): {status}"
    _wait(driver, lambda d: said in d.find_element(By.CSS_SELECTOR, ".notice").text, said)


def _card(driver, approval_id: str):
    from selenium.webdriver.common.by import By

    return _wait(
        driver,
        lambda d: next(iter(d.find_elements(By.ID, f"approval-{approval_id}")), False),
        f"the card of {approval_id} to appear",
    )


def sign_in(driver, live_server: LiveServer, size: tuple[int, int] = DESKTOP) -> None:
    from selenium.webdriver.common.by import By

    driver.set_window_size(*size)
    driver.get(live_server.url + "/")
    driver.delete_all_cookies()
    driver.get(live_server.url + "/")
    driver.find_element(By.NAME, "token").send_keys(live_server.token)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "approvals"), "the approvals page")
    driver.execute_script("window.__loadedOnce = 'still this page';")


def _not_reloaded(driver) -> bool:
    return driver.execute_script("return window.__loadedOnce") == "still this page"


def _screenshot(driver, name: str) -> None:
    folder = os.environ.get("OPSCOPILOT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_approvals_appear_without_a_reload_and_each_decision_reaches_its_owner(
    page, live_server: LiveServer
) -> None:
    from selenium.webdriver.common.by import By

    driver = page
    sign_in(driver, live_server)
    assert "No approval is waiting" in driver.find_element(By.ID, "approvals").text
    owners = {
        "approve": start_owner("restart opscopilot-web-test"),
        "deny": start_owner("restart opscopilot-web-test"),
        "edit": start_owner("restart opscopilot-web-test"),
    }
    try:
        cards = _wait(
            driver,
            lambda d: (
                (found := d.find_elements(By.CSS_SELECTOR, "[data-approval]"))
                and len(found) == 3
                and found
            ),
            "three approvals to appear without a reload",
        )
        assert _not_reloaded(driver)
        ids = [card.get_attribute("data-approval") for card in cards]
        by_turn = {}
        with Store.open() as store:
            for approval_id in ids:
                by_turn[store.get_approval(approval_id).turn_id] = approval_id
        first = cards[0].text
        assert "run_command" in first and "systemctl restart opscopilot-web-test" in first
        assert "WRITE" in first.upper() and "ago" in first and "the model said" in first.lower()
        _screenshot(driver, "serve-desktop.png")
        driver.set_window_size(*PHONE)
        _screenshot(driver, "serve-phone.png")
        driver.set_window_size(*DESKTOP)

        approve_id, deny_id, edit_id = ids
        _card(driver, approve_id).find_element(By.CSS_SELECTOR, ".approve-form button").click()
        _decided(driver, approve_id, "approved")

        card = _card(driver, deny_id)
        card.find_element(By.NAME, "reason").send_keys("not during the freeze")
        card.find_element(By.CSS_SELECTOR, ".deny-form button").click()
        _decided(driver, deny_id, "denied")

        card = _card(driver, edit_id)
        card.find_element(By.CSS_SELECTOR, "details.edit summary").click()
        area = card.find_element(By.NAME, "args")
        area.clear()
        area.send_keys(json.dumps({"command": "echo edited-on-the-web"}))
        card.find_element(By.CSS_SELECTOR, ".edit-form button").click()
        _decided(driver, edit_id, "approved")
        _wait(driver, lambda d: "No approval is waiting" in d.page_source, "an empty list")

        outcomes = {name: owner_outcome(owner) for name, owner in owners.items()}
    finally:
        for owner in owners.values():
            if owner.poll() is None:
                owner.kill()
                owner.wait()
    with Store.open() as store:
        records = {approval_id: store.get_approval(approval_id) for approval_id in ids}
    for outcome in outcomes.values():
        assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
    statuses = {by_turn[o["turn_id"]]: o["tool_calls"][0]["status"] for o in outcomes.values()}
    assert statuses[deny_id] == "denied"
    assert statuses[approve_id] != "denied" and statuses[edit_id] == "ok"
    assert records[approve_id].status == "approved" and records[approve_id].operator == "alice"
    assert records[approve_id].host == "127.0.0.1"
    assert records[deny_id].decision_reason == "not during the freeze"
    assert records[edit_id].edited_arguments == {"command": "echo edited-on-the-web"}
    edit_outcome = next(o for o in outcomes.values() if by_turn[o["turn_id"]] == edit_id)
    assert "edited-on-the-web" in json.dumps(edit_outcome)


def test_html_from_the_model_is_shown_as_text_and_never_runs(page, live_server: LiveServer) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver = page
    sign_in(driver, live_server, PHONE)
    approval_id = plant_approval(SCRIPT_ARGS)  # arrives by the live update, not a page load
    card = _card(driver, approval_id)
    assert "<script>window.__pwned = 1</script>" in card.find_element(By.CSS_SELECTOR, ".args").text
    driver.get(live_server.url + "/")  # and rendered in a full page load
    card = _card(driver, approval_id)
    assert "<img src=x onerror=alert(1)>" in card.text and "<b>title</b>" in card.text
    assert driver.execute_script("return window.__pwned") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "#approvals script, #approvals img")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - asking is the check
    with Store.open() as store:
        assert store.get_approval(approval_id).status == "pending"


def test_a_cross_site_form_post_from_another_origin_changes_nothing(
    page, live_server: LiveServer
) -> None:
    driver = page
    sign_in(driver, live_server)
    approval_id = plant_approval({"command": "systemctl restart opscopilot-web-test"})
    target = f"{live_server.url}/approvals/{approval_id}/approve"
    page = (
        f'<form id="f" method="post" action="{target}"><input name="csrf" value="guess"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        # "localhost" is another site than "127.0.0.1" for the browser's SameSite rules
        driver.get(f"http://localhost:{evil.server_address[1]}/")
        _wait(driver, lambda d: d.current_url.startswith(live_server.url), "the form to post")
        _wait(driver, lambda d: "<main>" in d.page_source, "the server's answer")
    finally:
        evil.shutdown()
    with Store.open() as store:
        assert store.get_approval(approval_id).status == "pending"
    assert "Approve" not in driver.page_source  # refused or asked to sign in: no list shown
