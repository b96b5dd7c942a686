"""The site in headless Chromium, through real clicks: the read-only pages; a participant
uploading a bad file and a good one, choosing finals and reading the board (JavaScript
off, on SQLite and PostgreSQL); an organizer creating a challenge, adding a team and a
token, rescoring and revealing; and, with JavaScript on, the upload progress path, local
times, the offline API docs, a phone-sized screen and the accessibility checks."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest

from geoarena import leaderboard as lb
from geoarena.evaluator.rules import KNOBS
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.web import evaluation
from geoarena.leaderboard.worker import Worker

from . import procs
from .browsing import chromium, login, press, screenshots, shoot, wait_for
from .factories import degrade, make_arena, perfect, synthetic

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path, javascript=False) as driver:
        yield driver


def test_leaderboard_team_and_submission_pages(db: Database, db_url: str, browser) -> None:
    from selenium.webdriver.common.by import By

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
    cities = lb.leaderboard(db, slug=arena.slug).cities

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
        login(browser, url, arena.tokens["beta"])
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


def _bad_file(props: bytes) -> bytes:
    """Two broken rows: an unknown ImageId (line 3) and WKT that is no polygon (line 5)."""
    lines = props.decode().splitlines()
    lines[2] = "nowhere_img0," + lines[2].split(",", 1)[1]
    lines[4] = lines[4].split(",", 2)[0] + "," + lines[4].split(",", 2)[1] + ',"POINT (1 2)",1'
    return ("\n".join(lines) + "\n").encode()


def test_a_participant_uploads_selects_finals_and_reads_the_board(
    db: Database, db_url: str, browser, tmp_path
) -> None:
    """Upload a bad file (row errors on the page, no quota spent), a good one (scored by the
    server's worker), pick the finals, then the board: team links with any characters,
    intervals and ties, four cities on a laptop screen, the CSV saved as a file."""
    from selenium.webdriver.common.by import By

    shots = screenshots(tmp_path)
    truth, props = synthetic(48, 10)  # a dozen public images per city: real intervals
    odd = "Ünïcode/#team ?&"
    arena = make_arena(db, teams=("alpha", odd, "gamma"), daily_limit=3, truth=truth)
    for team, data in ((odd, perfect(truth)), ("gamma", degrade(props, 0.97, seed=4))):
        lb.submit(db, principal=arena.members[team], slug=arena.slug, data=data)
    Worker(db).run(exit_when_idle=True)
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_bytes(_bad_file(props))
    good.write_bytes(degrade(props, 0.95, seed=5))

    with procs.server(db_url, workers=1) as url:
        login(browser, url, arena.tokens["alpha"])
        browser.get(f"{url}/c/{arena.slug}/overview")
        knobs = browser.find_elements(By.CSS_SELECTOR, "#knobs tbody tr")
        every = [f for f in KNOBS if f not in evaluation.NOT_KNOBS]
        assert len(knobs) == len(every) and "IoU" in browser.find_element(By.ID, "knobs").text
        assert "3 submissions left" in browser.find_element(By.ID, "quota").text
        assert "resets at" in browser.find_element(By.ID, "quota").text
        assert browser.find_element(By.ID, "honest-ranks").is_displayed()

        browser.find_element(By.LINK_TEXT, "Submit").click()
        browser.find_element(By.ID, "file").send_keys(str(bad))
        browser.find_element(By.ID, "description").send_keys("first try")
        browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
        wait_for(lambda: browser.find_elements(By.ID, "errors"))
        problems = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
        ]
        assert [p[:2] for p in problems] == [["bad.csv", "3"], ["bad.csv", "5"]]
        assert problems[0][2] == "ImageId" and "ImageId" in problems[0][3]
        assert "no quota was used" in browser.find_element(By.ID, "rejection").text
        assert "3 submissions left" in browser.find_element(By.ID, "quota").text
        assert browser.find_element(By.ID, "description").get_attribute("value") == "first try"
        shoot(browser, shots, "upload-rejected")

        browser.find_element(By.ID, "file").send_keys(str(good))
        browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
        wait_for(lambda: "/s/" in browser.current_url)

        def scored() -> bool:
            browser.refresh()
            return browser.find_element(By.ID, "status").text == "scored"

        wait_for(scored, timeout=60, message="the server's worker did not score the upload")
        browser.find_element(By.LINK_TEXT, "My submissions").click()
        assert "2 submissions left" in browser.find_element(By.ID, "quota").text
        rule = browser.find_element(By.ID, "finals-rule").text
        assert "up to 2" in rule and "If you select none" in rule
        box = browser.find_element(By.CSS_SELECTOR, "#mine input[name=final]")
        box.click()
        browser.find_element(By.CSS_SELECTOR, "#finals button[type=submit]").click()
        wait_for(lambda: browser.find_elements(By.ID, "saved"))
        assert browser.find_element(By.CSS_SELECTOR, "#mine input[name=final]").is_selected()
        assert lb.list_submissions(db, principal=arena.members["alpha"], slug=arena.slug)[
            0
        ].selected_final

        browser.find_element(By.LINK_TEXT, "Leaderboard").click()
        rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tr.ranked")
        assert rows[0].find_element(By.CLASS_NAME, "team").text == odd
        assert len(browser.find_elements(By.CSS_SELECTOR, "#leaderboard .gap")) == 2
        board = lb.leaderboard(db, slug=arena.slug)
        shown_ties = ["tied" in r.find_element(By.CLASS_NAME, "score").text for r in rows]
        assert shown_ties == [bool(r.gap and r.gap.tied) for r in board.rows]
        table = browser.find_element(By.ID, "leaderboard")
        wrap = table.find_element(By.XPATH, "..")
        assert len(board.cities) == 4
        assert table.size["width"] <= wrap.size["width"] + 1  # no sideways scrolling
        shoot(browser, shots, "board")
        link = rows[0].find_element(By.CSS_SELECTOR, "td.team a")
        assert link.get_attribute("href").endswith("/teams/" + quote(odd, safe=""))
        link.click()
        assert "own team" in browser.page_source  # the link reached their page (theirs only)

        browser.get(f"{url}/c/{arena.slug}")
        browser.find_element(By.ID, "csv").click()
        saved = wait_for(lambda: list(browser.downloads.glob("*.csv")), message="no download")
        table_rows = list(csv.reader(io.StringIO(saved[0].read_text())))
        assert saved[0].name == f"{arena.slug}-main-public.csv" and len(table_rows) == 4


def test_an_organizer_creates_a_challenge_rescores_and_reveals(
    sqlite_db: Database, sqlite_url: str, browser, tmp_path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    db = sqlite_db
    shots = screenshots(tmp_path)
    truth, props = synthetic()
    truth_file = tmp_path / "truth.csv"
    truth_file.write_bytes(truth)
    boss = lb.issue_token(db, member="boss", role=lb.Role.ORGANIZER)

    def button(text: str) -> None:
        """Press the button labelled ``text`` and wait for the page it answers with."""
        press(browser, browser.find_element(By.XPATH, f"//button[normalize-space()='{text}']"))

    with procs.server(sqlite_url, workers=1) as url:
        login(browser, url, boss)
        press(browser, browser.find_element(By.LINK_TEXT, "Organize"))
        browser.find_element(By.ID, "slug").send_keys("vegas")
        browser.find_element(By.ID, "title").send_keys("Vegas buildings")
        browser.find_element(By.ID, "truth").send_keys(str(truth_file))
        Select(browser.find_element(By.ID, "rules")).select_by_visible_text("spacenet-utilities")
        browser.find_element(By.ID, "description").send_keys("Find every roof.")
        daily = browser.find_element(By.ID, "daily_limit-new")
        daily.clear()
        daily.send_keys("none")
        button("Create")
        wait_for(lambda: browser.current_url.endswith("/admin/c/vegas"))
        view = lb.challenge_view(db, slug="vegas")
        assert view.rules == "spacenet-utilities" and view.phases[0].daily_limit is None

        browser.find_element(By.ID, "team-name").send_keys("alpha")
        button("Add team")
        browser.find_element(By.ID, "token-member").send_keys("ann")
        button("Issue token")
        secret = browser.find_element(By.ID, "secret").text
        assert secret.startswith("ga_") and secret not in browser.current_url
        browser.get(f"{url}/admin/c/vegas")  # any later page: the secret is gone for good
        assert not browser.find_elements(By.ID, "secret") and secret not in browser.page_source
        assert secret.split("_")[1] in browser.find_element(By.ID, "tokens").text  # its key
        ann = lb.authenticate(db, secret)
        assert ann is not None and ann.team_name == "alpha"
        lb.submit(db, principal=ann, slug="vegas", data=degrade(props, 0.9))
        wait_for(lambda: lb.JobQueue(db, lease_seconds=60, max_attempts=3).pending() == 0)

        browser.get(f"{url}/admin/c/vegas/submissions")
        press(browser, browser.find_element(By.CSS_SELECTOR, "#all-submissions tbody a"))
        assert browser.find_element(By.ID, "jobs").text.count("done") == 1

        browser.get(f"{url}/admin/c/vegas")
        browser.find_element(By.ID, "rescore-reason").send_keys("evaluator 0.3")
        button("Start rescore")
        wait_for(lambda: "/admin/rescores/" in browser.current_url)

        def ready() -> bool:
            browser.refresh()
            return browser.find_element(By.ID, "rescore-status").text == "ready"

        wait_for(ready, timeout=60, message="the rescore did not finish")
        changes = browser.find_element(By.ID, "changes").text
        assert "alpha" in changes
        shoot(browser, shots, "organizer-rescore")
        button("Publish")
        wait_for(lambda: browser.find_element(By.ID, "rescore-status").text == "published")

        browser.get(f"{url}/admin/c/vegas")
        button("Close")
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".phase-state").text == "closed")
        button("Reveal")
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".phase-state").text == "revealed")
        press(browser, browser.find_element(By.LINK_TEXT, "Shake-up"))
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#shakeup tbody td")]
        assert cells[:4] == ["1", "alpha", "1", "="]
        audit = {a for (a,) in _audit_actions(db)}
        assert {"challenge.create", "team.add", "token.issue", "rescore.start"} <= audit
        assert {"rescore.publish", "phase.close", "phase.reveal"} <= audit


def _audit_actions(db: Database):
    from sqlalchemy import select

    from geoarena.leaderboard.schema import AuditEntry

    with db.session() as s:
        return s.execute(
            select(AuditEntry.action).where(AuditEntry.actor == "organizer:boss")
        ).all()


#: WCAG 2 contrast of every visible text element against its nearest opaque background.
CONTRAST_JS = """
function lum(c) {
  const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function background(el) {
  for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    const a = c.match(/[\\d.]+/g);
    if (a && (a.length < 4 || Number(a[3]) > 0.5)) return c;
  }
  return "rgb(255, 255, 255)";
}
const bad = [];
for (const el of document.querySelectorAll("body *")) {
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!el.offsetParent || !text) continue;
  const s = getComputedStyle(el);
  const a = lum(s.color), b = lum(background(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5)
    bad.push(el.tagName + " " + el.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
}
return bad;
"""
#: what sticks out of the window (outside the tables that scroll on their own)
WIDE_JS = """
const w = window.innerWidth, out = [];
for (const el of document.querySelectorAll("body *")) {
  const r = el.getBoundingClientRect();
  if (r.right > w + 1 && !el.closest(".table-wrap"))
    out.push(el.tagName + "#" + el.id + " " + Math.round(r.right));
}
return out.slice(0, 5);
"""
#: form fields without a label, and any positive tabindex (which breaks the focus order).
LABELS_JS = """
const bad = [];
for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
    bad.push(el.name || el.id);
}
for (const el of document.querySelectorAll("[tabindex]")) {
  if (Number(el.getAttribute("tabindex")) > 0) bad.push("tabindex " + el.outerHTML.slice(0, 40));
}
return bad;
"""


def test_with_javascript_progress_local_times_offline_docs_phone_and_accessibility(
    sqlite_db: Database, sqlite_url: str, tmp_path
) -> None:
    """JavaScript on: the upload goes through the progress path and lands on the
    submission page; times get the local zone; /docs renders Swagger UI from the
    package's files (the browser has no network); every page passes the label, focus-order
    and contrast checks, and fits a phone's width."""
    from selenium.webdriver.common.by import By

    db = sqlite_db
    shots = screenshots(tmp_path)
    props = synthetic()[1]
    arena = make_arena(db, teams=("alpha", "beta"), daily_limit=5)
    uuid = lb.submit(db, principal=arena.members["beta"], slug=arena.slug, data=props).uuid
    Worker(db).run(exit_when_idle=True)
    good = tmp_path / "good.csv"
    good.write_bytes(degrade(props, 0.9))
    with procs.server(sqlite_url) as url, chromium(tmp_path, javascript=True) as browser:
        login(browser, url, arena.tokens["alpha"])
        browser.get(f"{url}/c/{arena.slug}/submit")
        browser.find_element(By.ID, "file").send_keys(str(good))
        browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
        wait_for(lambda: "/s/" in browser.current_url, message="the XHR upload did not land")
        assert browser.find_element(By.ID, "status").text.startswith("queued")
        shoot(browser, shots, "upload")

        browser.get(f"{url}/c/{arena.slug}/overview")
        local = browser.find_elements(By.CSS_SELECTOR, "#quota .local")
        assert local and "(" in local[0].text  # the reset time in the reader's zone

        browser.get(f"{url}/docs")
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), message="no docs")
        assert "/api/v1/challenges/{slug}/submissions" in browser.page_source

        pages = [
            "/",
            f"/c/{arena.slug}",
            f"/c/{arena.slug}/overview",
            f"/c/{arena.slug}/submit",
            f"/c/{arena.slug}/submissions",
            f"/c/{arena.slug}/teams/alpha",
        ]
        organizer_pages = ["/admin", f"/admin/c/{arena.slug}", f"/admin/s/{uuid}"]
        for who, paths in ((None, pages), (arena.organizer_token, organizer_pages)):
            if who:
                browser.delete_all_cookies()
                login(browser, url, who)
            for path in paths:
                browser.set_window_size(1366, 768)
                browser.get(f"{url}{path}")
                assert browser.execute_script(LABELS_JS) == [], path
                assert browser.execute_script(CONTRAST_JS) == [], path
                assert browser.find_element(By.CSS_SELECTOR, "a.skip").get_attribute("href")
                browser.set_window_size(390, 844)  # a phone: no sideways scrolling
                overflow = browser.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, (path, overflow, browser.execute_script(WIDE_JS))
        browser.get(f"{url}/c/{arena.slug}")
        shoot(browser, shots, "board-phone")
