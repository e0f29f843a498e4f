"""`lab ui-check`: open a run's page in headless Chromium, read what it shows, save a screenshot.

The browser is Debian's `chromium` package driven by Playwright: Playwright's own
browser downloads are not reachable from every build host.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Error, Page, sync_playwright

from lab.job import FrontDoor, run_page_url

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1600, 1100
# The run page's sidebar groups steps in collapsible sections titled "<state> (<count>)".
SECTION_TITLE = re.compile(r"^(Preparing|Executing|Errored|Succeeded) \((\d+)\)$")
DURATION = re.compile(r"^\d+:\d\d:\d\d$")
PAGE_HEADER = '[class*="PageHeader_titleAndTags"]'
BROKER_UI_PATH = "/rabbitmq/"
RUN_STATES = {"Queued", "Starting", "Started", "Success", "Failure", "Canceling", "Canceled", "Not started"}


@dataclass(frozen=True)
class RunPage:
    """What the run page shows: the status tag in its header and the steps of each sidebar section."""

    browser: str
    status: str
    sections: dict[str, list[str]]
    counts: dict[str, int]


def problems(page: RunPage, steps: list[str]) -> list[str]:
    """Why the page does not show every one of `steps` as succeeded (empty when it does)."""
    found: list[str] = []
    if page.status != "Success":
        found.append(f"the run's status tag reads {page.status or 'nothing'}, not Success")
    succeeded = page.sections.get("Succeeded", [])
    missing = sorted(set(steps) - set(succeeded))
    if missing:
        found.append(f"not listed as succeeded: {', '.join(missing)}")
    unexpected = sorted(set(succeeded) - set(steps))
    if unexpected:
        found.append(f"listed as succeeded but not steps of the run: {', '.join(unexpected)}")
    if page.counts.get("Succeeded") != len(steps):
        found.append(f"the Succeeded section counts {page.counts.get('Succeeded', 0)} steps, the run has {len(steps)}")
    for section in ("Preparing", "Executing", "Errored"):
        if page.counts.get(section):
            found.append(f"{page.counts[section]} step(s) under {section}: {', '.join(page.sections[section])}")
    return found


def section_steps(text: str) -> list[str]:
    """Step keys from a section's text: one line per key, each followed by its duration."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not DURATION.match(line)]


def header_status(text: str) -> str:
    """The run state among the header's lines ("Runs / 1a2b3c4d / Success / Run of ...")."""
    return next((line.strip() for line in text.splitlines() if line.strip() in RUN_STATES), "")


def lower_divider(page: Page, to_y: int) -> None:
    """Drag the divider under the step chart down, so the step list shows whole in the screenshot."""
    hit_area = page.locator('[class*="SplitPanelContainer_verticalHitArea"]').first
    box = hit_area.bounding_box() if hit_area.count() else None
    if box is None:
        return
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, to_y, steps=10)
    page.mouse.up()


def read_sections(page: Page) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each sidebar section's steps and count; Succeeded is left open and the others collapsed."""
    sections: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    titles = page.locator("[aria-controls]", has_text=SECTION_TITLE)
    titles.first.wait_for()
    for title in titles.all():
        matched = SECTION_TITLE.match(title.inner_text().strip())
        if not matched:
            continue
        name, count = matched[1], int(matched[2])
        if title.get_attribute("aria-expanded") != "true":
            title.click()
        region = page.locator(f'[id="{title.get_attribute("aria-controls")}"]')
        if count:
            region.get_by_text(DURATION).first.wait_for()
        sections[name] = section_steps(region.inner_text()) if count else []
        counts[name] = count
        if name != "Succeeded":
            title.click()  # collapsed, so the screenshot shows the whole Succeeded list
    return sections, counts


@contextmanager
def _browser_page(door: FrontDoor, timeout: float) -> Iterator[Page]:
    """A headless Chromium page logged in to the front door. Chromium is not told of the lab CA: the GraphQL
    client checks the certificate first."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium package (make bootstrap does)")
    # Chromium's sandbox refuses to run as root; the lab runs as root on a throwaway machine.
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=arguments)
        try:
            page = browser.new_page(
                viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
                http_credentials={"username": door.login[0], "password": door.login[1]},
                ignore_https_errors=True,
            )
            page.set_default_timeout(timeout * 1000)
            yield page
        finally:
            browser.close()


def read_run_page(door: FrontDoor, run_id: str, screenshot: Path | None, timeout: float = 90.0) -> RunPage:
    """Log in through the front door, load the run's page, read its status tag and step sections, optionally
    save a screenshot."""
    page_url = run_page_url(door.url, run_id)
    try:
        with _browser_page(door, timeout) as page:
            page.goto(page_url, wait_until="networkidle")
            try:
                sections, counts = read_sections(page)
                status = header_status(page.locator(PAGE_HEADER).first.inner_text())
            finally:  # also when reading failed: the screenshot shows what the browser saw
                if screenshot:
                    lower_divider(page, VIEWPORT_HEIGHT // 2)
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot))
            return RunPage(
                f"Chromium {page.context.browser.version if page.context.browser else '?'}", status, sections, counts
            )
    except Error as error:
        first_line = (error.message.strip().splitlines() or ["?"])[0]
        raise RuntimeError(f"headless Chromium could not read {page_url}: {first_line}") from error


@dataclass(frozen=True)
class BrokerPage:
    """What RabbitMQ's management UI shows after its own login: the user it names and the queues it lists."""

    user: str
    versions: str
    queues: list[str]


def read_broker_page(door: FrontDoor, screenshot: Path | None, timeout: float = 60.0) -> BrokerPage:
    """Through the front door, answer RabbitMQ's own login form with the same front door login (the proxy
    checks it, then presents the broker administrator's), and read the user and the queues the UI shows."""
    page_url = f"{door.url}{BROKER_UI_PATH}"
    try:
        with _browser_page(door, timeout) as page:
            page.goto(page_url, wait_until="networkidle")
            page.fill('input[name="username"]', door.login[0])
            page.fill('input[name="password"]', door.login[1])
            page.click('input[type="submit"]')
            page.goto(page_url + "#/queues", wait_until="networkidle")
            try:
                user = page.locator("#logout").inner_text()
                page.locator("#main table.list").first.wait_for()
                queues = page.locator("#main table.list tbody td a").all_inner_texts()
                versions = page.locator("#versions").inner_text()
            finally:
                if screenshot:
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot))
            return BrokerPage(" ".join(user.split()), " ".join(versions.split()), queues)
    except Error as error:
        first_line = (error.message.strip().splitlines() or ["?"])[0]
        raise RuntimeError(f"headless Chromium could not read {page_url}: {first_line}") from error


def check_broker(door: FrontDoor, screenshot: Path, administrator: str = "dagster-admin") -> int:
    """The management UI test: RabbitMQ's UI logs in through the door and lists the deployment's queues."""
    started = time.monotonic()
    page = read_broker_page(door, screenshot)
    print(f"ui-check: {door.url}{BROKER_UI_PATH} as {door.login[0]} ({time.monotonic() - started:.1f} s)")
    print(f"  header: {page.user or '-'}; {page.versions or '-'}")
    print(f"  queues: {', '.join(page.queues) or '-'}")
    print(f"  screenshot: {screenshot}")
    found = broker_problems(page, administrator)
    for problem in found:
        print(f"ui-check: error: {problem}")
    if not found:
        print(f"ui-check: RabbitMQ's management UI is logged in and lists {len(page.queues)} queues")
    return 1 if found else 0


def broker_problems(page: BrokerPage, administrator: str) -> list[str]:
    """Why the management UI does not show the administrator logged in and a task queue (empty when it does)."""
    found = []
    if page.user.split() != ["User", administrator]:
        found.append(f"the UI's header reads {page.user!r}, not User {administrator}")
    # Celery's transient queues (events, remote control) exist as soon as a worker connects; a task queue
    # is declared by the worker that serves it.
    if not [queue for queue in page.queues if not queue.startswith("celeryev.") and not queue.endswith(".pidbox")]:
        found.append(f"no task queue listed (only {', '.join(page.queues) or 'nothing'})")
    return found


def check_run(door: FrontDoor, job: str, run_id: str | None, screenshot: Path) -> int:
    """The UI test: the run page (of `run_id`, or of the job's newest run) shows every step of the run as succeeded."""
    client = door.client()
    run_id = run_id or client.latest_run(job)
    steps = sorted(client.report(run_id).steps)
    started = time.monotonic()
    page = read_run_page(door, run_id, screenshot)
    print(
        f"ui-check: {run_page_url(door.url, run_id)} as {door.login[0]}, in headless {page.browser} "
        f"({time.monotonic() - started:.1f} s)"
    )
    print(f"  status tag: {page.status or '-'}")
    for name, keys in page.sections.items():
        print(f"  {name} ({page.counts[name]}): {', '.join(keys) or '-'}")
    print(f"  screenshot: {screenshot}")
    found = problems(page, steps)
    for problem in found:
        print(f"ui-check: error: {problem}")
    if not found:
        print(f"ui-check: the run page shows all {len(steps)} steps of run {run_id} succeeded")
    return 1 if found else 0
