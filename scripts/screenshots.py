"""Take the README's screenshots of the current app, on the real guidance library.

Builds an index of guidance_docs/ in a temporary folder (reusing index/cache when it exists, so
only new passages are embedded), starts ``python -m bot serve`` on a free loopback port, drives
Debian's Chromium with Playwright at 1280 and 390 pixels wide and saves PNGs under
docs/screenshots/. ``make screenshots``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bot.models.embeddings import lend_models
from bot.ops.harness import child_env, free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshot-only"
WIDE = {"viewport": {"width": 1280, "height": 900}, "reduced_motion": "reduce"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "reduced_motion": "reduce"}


def start_server(index: Path) -> tuple[subprocess.Popen, str]:
    env = child_env(BOT_INDEX_DIR=str(index), BOT_STAFF_PASSWORD=PASSWORD)
    cache = ROOT / "index" / "cache" / "embeddings.sqlite"
    if cache.exists():
        (index / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(cache, index / "cache" / "embeddings.sqlite")
    lend_models(ROOT / "index", index)  # the exported encoder, built once per checkout
    subprocess.run([sys.executable, "-m", "bot", "index"], cwd=ROOT, env=env, check=True)
    env["BOT_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{env['BOT_PORT']}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start")


def open_page(browser, url: str, options: dict):
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(60000)
    page.goto(url, wait_until="load")
    page.wait_for_selector("#question textarea")
    return page


def ask(page, question: str) -> None:
    turns = page.locator("#conversation article.turn").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        "n => { const all = document.querySelectorAll('#conversation article.turn');"
        " return all.length > n && !all[all.length - 1].matches('.pending-turn'); }", arg=turns)
    page.wait_for_timeout(500)


def open_first_citation(page) -> None:
    page.locator("#conversation article.turn").last.locator("button.cite").first.click()
    page.wait_for_selector("#viewer mark")
    page.wait_for_timeout(400)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "index")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking"])
                page = open_page(browser, url, WIDE)
                page.screenshot(path=str(OUT / "welcome.png"))
                ask(page, "Can I take my mobile phone into the prison?")
                page.locator("#conversation article.turn").last.scroll_into_view_if_needed()
                page.screenshot(path=str(OUT / "chat.png"))
                open_first_citation(page)
                page.screenshot(path=str(OUT / "cited-passage.png"))
                page.keyboard.press("Escape")
                ask(page, "What is the capital of France?")
                page.screenshot(path=str(OUT / "not-covered.png"))
                page.get_by_role("tab", name="Evidence").click()
                page.click("#evidence-table [data-testid=cell-0-0]")
                page.wait_for_function("document.querySelector('#evidence-summary').innerText"
                                       ".length > 100")
                page.screenshot(path=str(OUT / "evidence.png"), full_page=True)
                page.get_by_role("tab", name="Staff").click()
                page.fill("#staff-password input", PASSWORD)
                page.get_by_role("button", name="Preview changes").click()
                page.wait_for_function("document.querySelector('#staff-result textarea')"
                                       ".value.length > 10")
                page.screenshot(path=str(OUT / "staff.png"), full_page=True)
                phone = open_page(browser, url, PHONE)
                phone.screenshot(path=str(OUT / "phone-welcome.png"))
                ask(phone, "How long does security vetting take?")
                phone.screenshot(path=str(OUT / "phone.png"))
                open_first_citation(phone)
                phone.screenshot(path=str(OUT / "phone-passage.png"))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"saved screenshots in {OUT}")


if __name__ == "__main__":
    main()
