"""The web app in a real browser: Debian's Chromium driven by Playwright, against the app on a
free loopback port. Saves screenshots of the main screens under docs/screenshots/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import copy_corpus, running_app

REPO = Path(__file__).resolve().parent.parent
# `make screenshots` sets SCREENSHOT_DIR=docs/screenshots to refresh the README's pictures.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or (Path(os.environ.get("TMPDIR", "/tmp"))
                                                   / "bot-screenshots"))
PASSWORD = "staff-secret-1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKUP = ("---\ntitle: Workshop materials with <b>markup</b>\nsettings: [prison]\n---\n"
          "## Clay and kilns\n\nClay workshops need a kiln booking <script>window.__pwned = 1"
          "</script> and <img src=x onerror=\"window.__pwned = 1\"> a fire risk assessment for "
          "the kiln room.\n")

if CHROMIUM is None and not os.environ.get("CI"):
    pytestmark = pytest.mark.skip(reason="Chromium is not installed: .ci/run installs Debian's "
                                  "chromium package")


def test_chromium_is_installed():
    assert CHROMIUM, "Chromium is missing: install Debian's chromium package (.ci/run does)"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    docs = copy_corpus(base / "docs")
    (docs / "guidance" / "markup.md").write_text(MARKUP, encoding="utf-8")
    with running_app(base, docs, BOT_STAFF_PASSWORD=PASSWORD) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1200, "height": 1500})
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def ask(page, question: str, expect: str) -> None:
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        "t => document.querySelector('#sources') && "
        "document.querySelector('#sources').innerText.includes(t)", arg=expect)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_first_screen_explains_what_the_bot_is(page):
    text = page.inner_text("body")
    assert "not legal advice" in text and "local rules vary" in text
    assert "do not type names or personal details" in text
    assert "Getting in" in text and "Safety and boundaries" in text


def test_ask_and_open_the_cited_passage(page):
    ask(page, "Can I take my mobile phone into a prison?", "Phones and recording devices")
    chat = page.inner_text("#chat")
    assert "[1]" in chat and "mobile phone" in chat
    shot(page, "chat.png")
    page.click("#sources [data-testid=cell-0-1]")
    page.wait_for_selector("#viewer mark")
    assert "written authorisation" in page.inner_text("#viewer mark")
    assert page.get_attribute("#viewer a", "href").startswith("/api/documents/guidance/phones.md")
    shot(page, "cited-passage.png")


def test_markup_in_documents_is_shown_as_text_and_never_runs(page):
    ask(page, "Do clay workshops need a kiln booking and a fire risk assessment?",
        "Workshop materials")
    page.click("#sources [data-testid=cell-0-1]")
    page.wait_for_selector("#viewer mark")
    assert page.evaluate("window.__pwned") is None
    assert "<script>" in page.inner_text("#viewer") or "<img" in page.inner_text("#viewer")
    assert page.query_selector("#viewer script") is None
    assert page.query_selector("#viewer img") is None
    assert "<b>markup</b>" in page.inner_text("#sources")


def test_markup_in_a_question_is_shown_as_text(page):
    page.fill("#question textarea", "<img src=x onerror=\"window.__pwned=1\"> phone rules?")
    page.press("#question textarea", "Enter")
    # answered or declined, the reply is in the chat once there are two messages
    page.wait_for_function("document.querySelectorAll('#chat .message').length >= 2")
    assert page.evaluate("window.__pwned") is None
    assert "<img" in page.inner_text("#chat")


def test_feedback_reaches_the_staff_report(page):
    ask(page, "Can I bring a camera or sound recorder?", "Phones and recording devices")
    page.get_by_label("It is out of date").check()
    page.click("#feedback-no")
    page.wait_for_function("document.querySelector('#feedback-thanks').innerText"
                           ".includes('Thank you')")
    page.get_by_role("tab", name="Staff").click()
    page.fill("#staff-password input", PASSWORD)
    page.get_by_text("What users could not find").click()
    page.click("#staff-report-button")
    page.wait_for_function("document.querySelector('#staff-report').innerText"
                           ".includes('out of date')")
    assert "Phones and recording devices" in page.inner_text("#staff-report")


def test_staff_upload_reindex_and_ask_about_it(page, tmp_path):
    page.get_by_role("tab", name="Staff").click()
    page.fill("#staff-password input", PASSWORD)
    new = tmp_path / "drumming-workshops.md"
    new.write_text("---\ntitle: Drumming workshops\nsettings: [yoi]\n---\n## Drums\n\n"
                   "Hand drums for drumming workshops must be listed on the gate sheet and "
                   "counted in and out by the officer.\n", encoding="utf-8")
    page.set_input_files("#staff-upload input[type=file]", str(new))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_function("document.querySelector('#staff-result textarea').value"
                           ".includes('Added guidance/drumming-workshops.md')")
    page.get_by_role("button", name="Reindex now").click()
    page.wait_for_function("document.querySelector('#staff-result textarea').value"
                           ".includes('Indexed')")
    assert "1 added" in page.input_value("#staff-result textarea")
    shot(page, "staff.png")
    page.get_by_role("tab", name="Ask").click()
    ask(page, "Do hand drums for drumming workshops have to be counted in and out?",
        "Drumming workshops")


def test_a_5mb_pdf_uploads_through_the_staff_area(page, tmp_path):
    import os

    from tests.helpers import make_pdf

    pdf = make_pdf(tmp_path / "pictures.pdf", [[("h1", "Pictures handbook"), (
        "p", "A handbook with many pictures is large but must still upload.")]])
    big = tmp_path / "large-handbook.pdf"
    big.write_bytes(pdf.read_bytes() + b"%" + os.urandom(5 * 1024 * 1024))
    page.get_by_role("tab", name="Staff").click()
    page.fill("#staff-password input", PASSWORD)
    page.set_input_files("#staff-upload input[type=file]", str(big))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_function("document.querySelector('#staff-result textarea').value"
                           ".includes('Added guidance/large-handbook.pdf')", timeout=60000)


def test_wrong_staff_password_is_refused(page):
    page.get_by_role("tab", name="Staff").click()
    page.fill("#staff-password input", "not-the-password")
    page.get_by_role("button", name="Index status").click()
    page.wait_for_function("document.querySelector('#staff-result textarea').value"
                           ".includes('Wrong staff password')")


def test_evidence_browser_opens_a_summary(page):
    page.get_by_role("tab", name="Evidence").click()
    page.wait_for_function("document.querySelector('#evidence-table').innerText"
                           ".includes('A music programme evaluation')")
    page.click("#evidence-table [data-testid=cell-0-0]")
    page.wait_for_function("document.querySelector('#evidence-summary').innerText"
                           ".includes('What it found')")
    shot(page, "evidence.png")


def test_phone_sized_screen(browser, app_url):
    context = browser.new_context(viewport={"width": 375, "height": 800}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#question textarea")
    ask(page, "Can I take my mobile phone into a prison?", "Phones and recording devices")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the page is {width}px wide on a 375px screen"
    shot(page, "phone.png")
    context.close()


def test_keyboard_only(page):
    page.focus("#question textarea")
    page.keyboard.type("Can I take my mobile phone into a prison?")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#sources').innerText.includes('Phones')")
    labels = page.eval_on_selector_all("input, textarea, select", "els => els.filter(e => "
                                       "e.type !== 'hidden' && e.offsetParent !== null && "
                                       "!(e.labels && e.labels.length) && "
                                       "!e.getAttribute('aria-label')).length")
    assert labels == 0


CONTRAST_JS = """
() => {
  const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('p, span, label, button, td, li, h1, h2, h3, a, strong, em')) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || parseFloat(style.opacity) < 0.5) continue;
    const fg = parse(style.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const large = parseFloat(style.fontSize) >= 24 ||
                  (parseFloat(style.fontSize) >= 18.66 && parseInt(style.fontWeight) >= 700);
    const key = el.tagName + ':' + el.textContent.trim().slice(0, 40) + ' ' + style.color + ' on ' + bg;
    if (ratio < (large ? 3 : 4.5) && !seen.has(key)) { seen.add(key); worst.push([key, ratio.toFixed(2)]); }
  }
  return worst;
}
"""


def test_text_contrast_passes_wcag_aa(page):
    ask(page, "Can I take my mobile phone into a prison?", "Phones and recording devices")
    failures = page.evaluate(CONTRAST_JS)
    assert failures == [], failures
