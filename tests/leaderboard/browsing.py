"""Headless Chromium for the page tests: a driver with JavaScript on or off, downloads
into a folder, and screenshots saved as test artefacts (``GEOARENA_SCREENSHOTS``, else the
test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextmanager
def chromium(tmp: Path, *, javascript: bool, size: tuple[int, int] = (1366, 768)) -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tmp / f"chrome-profile-{javascript}"
    downloads = tmp / "downloads"
    downloads.mkdir(exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--window-size={size[0]},{size[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    prefs: dict[str, object] = {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    }
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshots(tmp: Path) -> Path:
    folder = Path(os.environ.get("GEOARENA_SCREENSHOTS") or tmp / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(driver: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot (the window grown to the page's height)."""
    width = driver.get_window_size()["width"]
    height = (
        driver.execute_script("return document.documentElement.scrollHeight")
        if js_on(driver)
        else 900
    )
    driver.set_window_size(width, min(max(int(height), 600), 4000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def js_on(driver: Any) -> bool:
    try:
        return bool(driver.execute_script("return true"))
    except Exception:
        return False


def wait_for(condition: Callable[[], object], timeout: float = 30, message: str = "") -> Any:
    """``condition()``'s first true value; an element that vanished with the page being
    replaced (a click's navigation) counts as "not yet"."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(message or "condition not met")
        time.sleep(0.1)


def press(driver: Any, element: Any, timeout: float = 30) -> None:
    """Click a form's button and wait until its answer has replaced the page: the next
    lookup would otherwise find (and type into) the old page under slow spells."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced() -> bool:
        try:
            page.tag_name  # noqa: B018 - touching it raises once the page is gone
        except StaleElementReferenceException:
            pass
        except WebDriverException as exc:
            # Chromium 156 sometimes reports the old page's node this way instead of stale
            if "does not belong to the document" not in str(exc):
                raise
        else:
            return False
        return driver.execute_script("return document.readyState") == "complete"

    wait_for(replaced, timeout, message="the form's answer did not load")


def login(driver: Any, url: str, token: str) -> None:
    """Log in through the form, as a person would."""
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(lambda: "Log out" in driver.page_source, message="login did not land")
