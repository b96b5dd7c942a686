"""The pages in headless Chromium (JavaScript off): ranked rows, per-city columns, login,
team history chart and a submission page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from geoarena import leaderboard as lb
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.worker import Worker

from . import procs
from .factories import degrade, make_arena, perfect, synthetic

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path) -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
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
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)


def test_leaderboard_team_and_submission_pages(db: Database, db_url: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    arena = make_arena(db, teams=("alpha", "beta", "gamma"))
    truth, props = synthetic()
    uuids = {}
    for team, data in (
        ("gamma", degrade(props, 0.4, seed=2)),
        ("alpha", perfect(truth)),
        ("beta", degrade(props, 0.8, seed=1)),
        ("beta", props),
    ):
        uuids[team] = lb.submit(db, principal=arena.members[team], slug=arena.slug, data=data).uuid
    lb.submit(
        db,
        principal=arena.organizer,
        slug=arena.slug,
        data=degrade(props, 0.5),
        baseline_label="U-Net baseline",
    )
    Worker(db).run(exit_when_idle=True)
    board = lb.leaderboard(db, slug=arena.slug)
    cities = board.cities

    with procs.server(db_url) as url:
        browser.get(f"{url}/c/{arena.slug}")
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#leaderboard th")]
        assert [f"F1 {c}" for c in cities] == [h for h in headers if h.startswith("F1 ")]
        rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tr.ranked")
        ranked = [
            (r.find_element(By.CLASS_NAME, "rank").text, r.find_element(By.CLASS_NAME, "team").text)
            for r in rows
        ]
        assert ranked == [("1", "alpha"), ("2", "beta"), ("3", "gamma")]
        first_cities = [td.text for td in rows[0].find_elements(By.CSS_SELECTOR, "td.city")]
        assert first_cities == ["1.0000"] * len(cities)
        baseline = browser.find_element(By.CSS_SELECTOR, "#leaderboard tr.baseline")
        assert (
            "U-Net baseline" in baseline.text
            and baseline.find_element(By.CLASS_NAME, "rank").text == "-"
        )
        assert "earlier submission ranks higher" in browser.find_element(By.ID, "rule").text

        browser.get(f"{url}/c/{arena.slug}/teams/beta")
        assert "log in" in browser.page_source.lower()
        browser.get(f"{url}/login")
        browser.find_element(By.NAME, "token").send_keys(arena.tokens["beta"])
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(browser, 30).until(  # the redirect after login has landed
            lambda b: "Log out" in b.page_source
        )
        browser.get(f"{url}/c/{arena.slug}/teams/beta")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 2
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart circle")) == 2
        assert "no submission limit" in browser.find_element(By.ID, "quota").text
        browser.get(f"{url}/c/{arena.slug}/teams/alpha")
        assert "own team" in browser.page_source  # another team's history is refused

        browser.get(f"{url}/s/{uuids['beta']}")
        assert browser.find_element(By.ID, "status").text == "scored"
        city_rows = browser.find_elements(By.CSS_SELECTOR, "#cities-public tbody tr")
        assert len(city_rows) >= 1
        assert not browser.find_elements(By.ID, "cities-private")  # hidden before reveal
