"""The web console in a real browser: Debian's chromium, driven by Selenium through Debian's
chromedriver, against a real `automations serve` (its database in a temp dir) and a real webhook
receiver on loopback.

The server is the Python client suite's harness (clients/python/tests/harness.py). Each test
saves a screenshot into $CONSOLE_SCREENSHOTS (default: target/console-screenshots); the two the
README shows are saved into docs/ as well.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "clients" / "python" / "tests"))
from harness import ENTITY, Server  # noqa: E402


class Receiver:
    """A webhook receiver on loopback: records each request, answers 200 with a small JSON body."""

    def __init__(self) -> None:
        self.requests: List[dict] = []
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                answer = json.dumps({"received": True, "n": len(received)}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def server(tmp_path: Path):
    s = Server(tmp_path, "--retry-base", "1s").start()
    yield s
    s.stop()
    s.log.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def chromium_paths() -> tuple:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise RuntimeError("chromium and chromedriver are needed (scripts/console-test installs Debian's)")
    return browser, driver


@pytest.fixture(scope="session")
def browser():
    binary, driver = chromium_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


@pytest.fixture
def page(browser, server):
    """The browser on a fresh console of `server` (session storage cleared: signed out)."""
    browser.get(server.url + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(server.url + "/#/automations")
    yield browser


SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", REPO / "target" / "console-screenshots"))


def screenshot(driver, name: str, docs: bool = False) -> Path:
    """Save the whole page (the window grown to its height for the shot) as NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    try:
        assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    finally:
        driver.set_window_size(size["width"], size["height"])
    if docs:
        shutil.copyfile(path, REPO / "docs" / f"{name}.png")
    return path
