"""The console's pages in a real browser against a real `automations serve` (see conftest.py)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Callable, TypeVar

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ENTITY, screenshot

T = TypeVar("T")


def wait(driver, until: Callable, timeout: float = 15, what: str = "") -> T:
    """Wait for `until` to be truthy; a page re-rendered meanwhile (stale elements) is looked at again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: until(d), message=what)


def heading(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "main h1").text


def by_label(driver, text: str):
    """The control whose <label> says `text` (or whose aria-label is `text`), as a person finds it."""
    for label in driver.find_elements(By.TAG_NAME, "label"):
        if label.text.strip() == text and label.get_attribute("for") and label.is_displayed():
            return driver.find_element(By.ID, label.get_attribute("for"))
    return driver.find_element(By.CSS_SELECTOR, f'[aria-label="{text}"]')


def sign_in(driver, server) -> None:
    wait(driver, lambda d: heading(d) == "Sign in", what="the sign-in page")
    key = by_label(driver, "API key")
    key.send_keys(server.key, Keys.ENTER)
    wait(driver, lambda d: heading(d) == "Automations", what="the automations page after sign-in")


def metrics(run_id: str, event_id: str, losses: list, first_step: int = 1) -> dict:
    rows = [{"step": first_step + i, "time": f"2026-11-01T12:{i // 60:02d}:{i % 60:02d}Z", "values": {"loss": v}}
            for i, v in enumerate(losses)]
    return {"specversion": "1.0", "id": event_id, "source": "console-test", "type": "run.metrics.logged",
            "time": "2026-11-01T13:00:00Z",
            "data": {"entity": ENTITY, "project": "mnist", "run_id": run_id, "run_name": f"train-{run_id}", "rows": rows}}


def threshold(name: str, threshold_value: float, action: dict) -> dict:
    return {"name": name, "scope": {"type": "project", "project": "mnist"},
            "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": threshold_value,
                                                                 "window": 1}},
            "action": action}


def test_sign_in_keeps_the_key_in_session_storage_only(page, server):
    wait(page, lambda d: heading(d) == "Sign in")
    by_label(page, "API key").send_keys("ak_wrong", Keys.ENTER)
    wait(page, lambda d: "refused" in d.find_element(By.ID, "main").text, what="the refusal")
    assert page.execute_script("return sessionStorage.length") == 0
    key = by_label(page, "API key")
    key.clear()
    key.send_keys(server.key, Keys.ENTER)
    wait(page, lambda d: heading(d) == "Automations")
    assert page.execute_script("return sessionStorage.getItem('automations.api_key')") == server.key
    assert page.execute_script("return localStorage.length") == 0
    assert server.key not in page.current_url
    screenshot(page, "console-sign-in")
    # Signing out forgets it.
    page.find_element(By.ID, "signout").click()
    wait(page, lambda d: heading(d) == "Sign in")
    assert page.execute_script("return sessionStorage.length") == 0


def test_create_a_threshold_automation_through_the_form(page, server, receiver):
    server.api("POST", "/v1/integrations", {"name": "ci-hook", "type": "webhook", "url": receiver.url}, expect=201)
    sign_in(page, server)
    page.find_element(By.LINK_TEXT, "New automation").click()
    wait(page, lambda d: heading(d) == "New automation")
    # The seed's default window is already there (averaged: with no aggregation it would be 1).
    assert by_label(page, "Window (values)").get_attribute("value") == "5"
    assert Select(by_label(page, "Aggregation")).first_selected_option.get_attribute("value") == "AVERAGE"
    by_label(page, "Name").send_keys("loss-too-high")
    by_label(page, "Project").send_keys("mnist")
    by_label(page, "Metric name").send_keys("loss")
    by_label(page, "Threshold").send_keys("2.5")
    Select(by_label(page, "Action type")).select_by_value("webhook")
    Select(by_label(page, "Integration")).select_by_visible_text("ci-hook")
    by_label(page, "Payload template (JSON)").send_keys('{"run": "${run_name}", "value": ${metric_values}}')
    page.find_element(By.XPATH, "//button[text()='Preview']").click()
    preview = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label="Rendered payload"]'), what="the preview")
    assert '"run": "example-run-name"' in preview.text
    # The variables come from the API; one is inserted by clicking it.
    assert page.find_element(By.XPATH, "//button[text()='${run_id}']")
    screenshot(page, "console-editor", docs=True)
    page.find_element(By.XPATH, "//button[text()='Create automation']").click()
    wait(page, lambda d: heading(d) == "Edit loss-too-high", what="the saved automation")
    assert "Saved." in page.find_element(By.ID, "main").text
    assert "#/automations/au_" in page.current_url
    items = server.api("GET", "/v1/automations", expect=200)["items"]
    assert len(items) == 1
    a = items[0]
    assert a["event"] == {"type": "RUN_METRIC_THRESHOLD", "cooldown": 86400,
                          "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 2.5}}, a["event"]
    assert a["action"]["integration"] == "ci-hook"
    assert a["scope"] == {"type": "project", "entity": ENTITY, "project": "mnist"}
    # The link is the automation's: opened afresh, the same form shows it.
    page.get(page.current_url.split("?")[0])
    wait(page, lambda d: heading(d) == "Edit loss-too-high")
    assert by_label(page, "Threshold").get_attribute("value") == "2.5"


def test_a_window_of_zero_is_shown_at_the_window_field(page, server):
    sign_in(page, server)
    page.get(server.url + "/#/automations/new")
    wait(page, lambda d: heading(d) == "New automation")
    by_label(page, "Name").send_keys("zero-window")
    by_label(page, "Project").send_keys("mnist")
    by_label(page, "Metric name").send_keys("loss")
    by_label(page, "Threshold").send_keys("1")
    window = by_label(page, "Window (values)")
    window.clear()
    window.send_keys("0")
    page.find_element(By.XPATH, "//button[text()='Create automation']").click()
    err = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, '[data-error-for="event.metric.window"]'), what="the error")
    # Shown inside the window's field, tied to its input, and the input has the focus.
    field = err.find_element(By.XPATH, "..")
    assert field.get_attribute("data-path") == "event.metric.window"
    assert window.get_attribute("aria-invalid") == "true"
    assert window.get_attribute("aria-describedby") == err.get_attribute("id")
    assert page.switch_to.active_element == window
    assert err.text  # the API's own message
    assert server.api("GET", "/v1/automations", expect=200)["items"] == []
    screenshot(page, "console-window-error")


def test_events_sent_through_the_api_show_as_an_execution_with_its_response(page, server, receiver):
    server.api("POST", "/v1/integrations", {"name": "ci-hook", "type": "webhook", "url": receiver.url}, expect=201)
    a = server.api("POST", "/v1/automations", threshold("loss-high", 1.0, {"type": "webhook", "integration": "ci-hook"}),
                   expect=201)
    sign_in(page, server)
    page.get(f"{server.url}/#/automations/{a['id']}/executions")
    wait(page, lambda d: heading(d) == "Executions of loss-high")
    assert "No executions yet." in page.find_element(By.ID, "main").text
    server.api("POST", "/v1/events", [metrics("r1", "e1", [0.4, 0.6, 1.7, 0.5])], expect=202)
    wait(page, lambda d: len(receiver.requests) == 1, what="the delivery")

    def finished(d):
        d.find_element(By.XPATH, "//button[text()='Refresh']").click()
        time.sleep(0.2)
        cells = d.find_elements(By.CSS_SELECTOR, "table[aria-label=Executions] tbody td.state-FINISHED")
        return cells[0] if cells else None

    wait(page, finished, what="a FINISHED execution")
    row = page.find_element(By.CSS_SELECTOR, "table[aria-label=Executions] tbody tr")
    assert "loss at step 3 of run r1" in row.text
    assert "HTTP 200" in row.text
    row.find_element(By.XPATH, ".//summary[text()='Body']").click()
    assert '"received": true' in row.text
    # The request as sent, its signing secret not there to show (this integration has none) and
    # the receiver got the same body.
    row.find_element(By.XPATH, ".//summary[starts-with(text(), 'POST ')]").click()
    assert receiver.requests[0]["body"].replace(" ", "")[:40] in row.text.replace(" ", "").replace("\n", "")
    # The Test button sends a test delivery and shows the answer.
    page.find_element(By.XPATH, "//button[text()='Test']").click()
    wait(page, lambda d: "Delivered: the receiver answered 2xx." in d.find_element(By.ID, "main").text, what="the test")
    assert len(receiver.requests) == 2
    screenshot(page, "console-executions")


def test_the_run_chart_marks_the_step_the_engine_fired_at(page, server):
    a = server.api("POST", "/v1/automations", threshold("loss-spike", 1.0, {"type": "none"}), expect=201)
    losses = [0.9 - i * 0.01 for i in range(40)] + [1.4] + [0.5 - i * 0.005 for i in range(30)]
    server.api("POST", "/v1/events", [metrics("r7", "e7", losses)], expect=202)
    fired = [e["event"]["step"] for e in server.api("GET", f"/v1/automations/{a['id']}/executions", expect=200)["items"]]
    assert fired == [41]
    sign_in(page, server)
    # Picked by hand: the project, then the run (the link carries the state).
    page.find_element(By.LINK_TEXT, "Run chart").click()
    wait(page, lambda d: heading(d) == "Run chart")
    by_label(page, "Project").send_keys("mnist", Keys.ENTER)
    wait(page, lambda d: "project=mnist" in d.current_url)
    chart = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#chart[data-engine-fires]"), what="the chart")
    assert chart.get_attribute("data-engine-fires") == "41"
    # The backtest of the stored history agrees with the engine.
    assert chart.get_attribute("data-backtest-fires") == "41"
    assert page.find_elements(By.CSS_SELECTOR, "#chart canvas"), "uPlot drew the chart"
    assert "Fired (engine) at step 41" in page.find_element(By.ID, "fire-list").text
    params = urllib.parse.parse_qs(page.current_url.split("?", 1)[1]) if "?" in page.current_url else {}
    assert params.get("project") == ["mnist"]
    screenshot(page, "console-run-chart", docs=True)
    # Lower the threshold: the backtest marks move (the engine's stay), nothing is saved.
    t = by_label(page, "Threshold")
    t.clear()
    t.send_keys("0.85")
    page.find_element(By.XPATH, "//label[contains(., 'Apply the cooldown')]/input").click()
    page.find_element(By.XPATH, "//button[text()='Backtest']").click()
    wait(page, lambda d: d.find_element(By.ID, "chart").get_attribute("data-backtest-fires").startswith("1,2,3"),
         what="the moved marks")
    assert page.find_element(By.ID, "chart").get_attribute("data-engine-fires") == "41"
    assert server.api("GET", f"/v1/automations/{a['id']}", expect=200)["event"]["metric"]["threshold"] == 1.0
    # The URL is a link to the same chart: loaded afresh (the key still in this tab's session).
    url = page.current_url
    assert f"automation={a['id']}" in url and "run=r7" in url and "metric=loss" in url, url
    page.get("about:blank")
    page.get(url)
    wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#chart[data-engine-fires]").get_attribute("data-engine-fires") == "41",
         what="the chart from its link")


def test_switch_an_automation_off_and_on_from_the_list(page, server):
    a = server.api("POST", "/v1/automations", threshold("lr-watch", 5.0, {"type": "none"}), expect=201)
    sign_in(page, server)
    switch = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label="Enabled: lr-watch"]'))
    assert switch.get_attribute("role") == "switch" and switch.is_selected()
    # By keyboard: focus it and press space.
    switch.send_keys(Keys.SPACE)
    wait(page, lambda d: server.api("GET", f"/v1/automations/{a['id']}")["enabled"] is False, what="disabled")
    assert not switch.is_selected()
    # The filter by enabled is in the URL and shows it among the disabled.
    Select(by_label(page, "Enabled")).select_by_value("false")
    wait(page, lambda d: "enabled=false" in d.current_url)
    switch = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label="Enabled: lr-watch"]'))
    screenshot(page, "console-switch-off")
    switch.click()
    wait(page, lambda d: server.api("GET", f"/v1/automations/{a['id']}")["enabled"] is True, what="enabled again")
    assert switch.is_selected()


def test_the_filter_builder_writes_the_filter_json_and_reads_it_back(page, server):
    sign_in(page, server)
    page.get(server.url + "/#/automations/new")
    wait(page, lambda d: heading(d) == "New automation")
    by_label(page, "Name").send_keys("prod-alias")
    Select(by_label(page, "Scope type")).select_by_value("registry")
    by_label(page, "Registry").send_keys("model")
    Select(by_label(page, "Event type")).select_by_value("ADD_ARTIFACT_ALIAS")
    page.find_element(By.XPATH, "//fieldset[legend='Artifact filter']//button[text()='Add condition']").click()
    by_label(page, "Condition 1 field").send_keys("alias")
    by_label(page, "Condition 1 value").send_keys("production")
    page.find_element(By.XPATH, "//fieldset[legend='Artifact filter']//button[text()='Add condition']").click()
    by_label(page, "Condition 2 field").send_keys("collection")
    Select(by_label(page, "Condition 2 operator")).select_by_value("$regex")
    by_label(page, "Condition 2 value").send_keys("^clf-")
    Select(page.find_element(By.XPATH, "//fieldset[legend='Artifact filter']//select")).select_by_value("$or")
    raw = by_label(page, "Artifact filter JSON")
    assert json.loads(raw.get_attribute("value")) == {"$or": [{"alias": {"$eq": "production"}}, {"collection": {"$regex": "^clf-"}}]}
    page.find_element(By.XPATH, "//button[text()='Create automation']").click()
    wait(page, lambda d: heading(d) == "Edit prod-alias")
    a = server.api("GET", "/v1/automations", expect=200)["items"][0]
    assert a["event"]["filter"] == {"$or": [{"alias": {"$eq": "production"}}, {"collection": {"$regex": "^clf-"}}]}
    assert a["scope"] == {"type": "registry", "entity": ENTITY, "registry": "model"}
    # Read back into the builder when the page is opened again.
    assert by_label(page, "Condition 2 value").get_attribute("value") == "^clf-"
    # A filter the builder cannot show stays editable as JSON, and is what is saved.
    raw = by_label(page, "Artifact filter JSON")
    raw.clear()
    raw.send_keys('{"$nor": [{"tag": {"$in": ["wip"]}}]}')
    assert "cannot show this filter" in page.find_element(By.XPATH, "//fieldset[legend='Artifact filter']").text
    screenshot(page, "console-filter-json")
    page.find_element(By.XPATH, "//button[text()='Save changes']").click()
    wait(page, lambda d: server.api("GET", f"/v1/automations/{a['id']}")["event"]["filter"] == {"$nor": [{"tag": {"$in": ["wip"]}}]},
         what="the JSON filter saved: " + page.find_element(By.ID, "main").text[:300] + str(server.api("GET", f"/v1/automations/{a['id']}")["event"]))


def test_integrations_are_created_with_write_only_secrets(page, server):
    sign_in(page, server)
    page.find_element(By.LINK_TEXT, "Integrations").click()
    wait(page, lambda d: heading(d) == "Integrations")
    by_label(page, "Name").send_keys("deploy-hook")
    by_label(page, "URL").send_keys("http://127.0.0.1:9/deploy")
    secret = by_label(page, "Signing secret (write-only)")
    assert secret.get_attribute("type") == "password"
    secret.send_keys("whsec-TOPSECRET")
    page.find_element(By.XPATH, "//button[text()='Create integration']").click()
    row = wait(page, lambda d: d.find_element(By.XPATH, "//table[@aria-label='Integrations']//tr[td='deploy-hook']"))
    assert "secret" in row.text
    assert "TOPSECRET" not in page.page_source
    assert server.api("GET", "/v1/integrations/deploy-hook", expect=200)["has_secret"] is True
    # The API's refusal shows at the field: a bad URL.
    by_label(page, "Name").send_keys("bad")
    by_label(page, "URL").send_keys("ftp://nope")
    page.find_element(By.XPATH, "//button[text()='Create integration']").click()
    wait(page, lambda d: d.find_element(By.CSS_SELECTOR, '[data-error-for="url"]'), what="the URL error")
    screenshot(page, "console-integrations")
