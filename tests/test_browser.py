"""The web app in a real browser: Debian's Chromium driven by Playwright, against the app on a
free loopback port, at 1280 and 390 pixels wide. Saves screenshots of the main screens under
$TMPDIR/bot-screenshots (or SCREENSHOT_DIR); the README's pictures are taken on the real library
by scripts/screenshots.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import copy_corpus, running_app

REPO = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or (Path(os.environ.get("TMPDIR", "/tmp"))
                                                   / "bot-screenshots"))
PASSWORD = "staff-secret-1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKUP = ("---\ntitle: Workshop materials with <b>markup</b>\nsettings: [prison]\n---\n"
          "## Clay and kilns\n\nClay workshops need a kiln booking <script>window.__pwned = 1"
          "</script> and <img src=x onerror=\"window.__pwned = 1\"> a fire risk assessment for "
          "the kiln room. [Open the booking form](javascript:window.__pwned=1) first.\n")
LISTS = ("---\ntitle: Prohibited items lists\nsettings: [prison]\nupdated: 2026-02-01\n---\n"
         "## What is on List A?\n\n**List A** covers the most serious items, such as drugs, "
         "weapons and explosives.\n\n- Drugs and psychoactive substances\n- Firearms and "
         "ammunition\n- Escape equipment\n\n## What is on List B?\n\n**List B** covers alcohol "
         "and phones.\n")
PHONE_Q = "Can I take my mobile phone into a prison?"
PHONES = "Phones and recording devices"
# reduced motion: the phone's sheet then opens without sliding, so it can be measured at once
WIDTHS = {1280: {"viewport": {"width": 1280, "height": 900}, "reduced_motion": "reduce"},
          390: {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                "reduced_motion": "reduce"}}
BOTH = pytest.mark.parametrize("page", [1280, 390], indirect=True, ids=["1280px", "390px"])
PHONE = pytest.mark.parametrize("page", [390], indirect=True, ids=["390px"])

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
    (docs / "guidance" / "lists.md").write_text(LISTS, encoding="utf-8")
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
def page(request, browser, app_url):
    """A fresh browser context (so nothing is kept from another test) at 1280 pixels wide, or
    at the width a test asks for with BOTH or PHONE."""
    context = browser.new_context(**WIDTHS[getattr(request, "param", 1280)])
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def wait_for_answer(page, expect: str, turns: int | None = None) -> None:
    """Until the latest answer is complete and holds ``expect`` (and there are ``turns``)."""
    page.wait_for_function(
        "([t, n]) => { const all = document.querySelectorAll('#conversation article.turn');"
        " const last = all[all.length - 1]; return last && !last.matches('.pending-turn') &&"
        " last.innerText.includes(t) && (n === null || all.length === n); }", arg=[expect, turns])


def ask(page, question: str, expect: str) -> None:
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    wait_for_answer(page, expect)


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def viewer_open(page) -> bool:
    return page.evaluate("document.querySelector('#viewer .viewer-panel').classList"
                         ".contains('open')")


def focused(page) -> str:
    return page.evaluate("document.activeElement.outerHTML.slice(0, 200)")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_first_screen_explains_what_the_bot_is(page):
    text = page.inner_text("body")
    assert "not legal advice" in text and "local rules vary" in text
    assert "do not type names or personal details" in text
    assert "Getting in" in text and "Safety and boundaries" in text
    assert page.is_visible("#examples button.ask")


@PHONE
def test_on_a_phone_the_chat_comes_first_and_the_welcome_folds_away(page):
    tops = {name: box(page, selector)["y"] for name, selector in (
        ("chat", "#conversation"), ("question", "#question"), ("welcome", "#welcome"),
        ("filters", "#filters"))}
    assert tops["chat"] < tops["question"] < tops["welcome"] < tops["filters"], tops
    assert tops["chat"] < 200, tops  # only the title comes before the chat
    page.get_by_role("button", name="Can I take my mobile phone into the prison?").click()
    wait_for_answer(page, PHONES)
    assert not page.is_visible("#examples")  # the welcome and examples have folded away
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    cards = [page.locator("li.source-card").nth(i).bounding_box()
             for i in range(page.locator("li.source-card").count())]
    chat = box(page, "#conversation")
    assert all(abs(c["x"] - cards[0]["x"]) < 2 and c["width"] > 0.9 * chat["width"]
               for c in cards)  # stacked, each as wide as the chat
    for button in ("Yes, this answer was helpful", "No, this answer was not helpful"):
        assert page.get_by_role("button", name=button).bounding_box()["height"] <= 36
    assert page.get_by_role("button", name="It is wrong").count() == 0
    page.get_by_role("button", name="No, this answer was not helpful").click()
    page.get_by_role("button", name="It is wrong").wait_for()  # asked only after "No"
    shot(page, "phone.png")


@BOTH
def test_a_citation_opens_its_passage_in_place(page):
    ask(page, PHONE_Q, PHONES)
    card = page.locator("li.source-card").first
    assert PHONES in card.inner_text() and "Guidance, updated 10 January 2026" in \
        card.inner_text() and "Can I take my phone in?" in card.inner_text()
    assert "written authorisation" in card.locator("blockquote").inner_text()
    marker = page.locator("#conversation button.cite").first
    assert marker.get_attribute("aria-label").startswith(f"Source 1: {PHONES}")
    marker.click()
    page.wait_for_selector("#viewer mark")
    assert "written authorisation" in page.inner_text("#viewer mark")
    assert page.get_attribute("#viewer a", "href").startswith("/api/documents/guidance/phones.md")
    assert marker.get_attribute("aria-expanded") == "true"
    panel, size = box(page, "#viewer .viewer-panel"), page.viewport_size
    if size["width"] > 720:  # a side panel beside the conversation, in view
        assert panel["x"] >= box(page, "#conversation")["x"] + box(page, "#conversation")["width"]
        mark = box(page, "#viewer mark")
        assert 0 <= panel["y"] and mark["y"] + mark["height"] <= size["height"]
        shot(page, "cited-passage.png")
    else:  # a sheet over the lower part of the screen, the tapped marker still above it
        assert abs(panel["y"] + panel["height"] - size["height"]) < 2
        assert panel["y"] > size["height"] * 0.25
        assert marker.bounding_box()["y"] + marker.bounding_box()["height"] <= panel["y"]
    page.click("#viewer button.whole-section")  # the whole section, from inside the panel
    page.wait_for_function("!document.querySelector('#viewer button.whole-section') && "
                           "document.querySelector('#viewer mark')")
    page.get_by_role("button", name="Close the passage").click()
    assert not viewer_open(page) and page.locator("#viewer mark").count() == 0
    assert "cite" in focused(page)  # the focus is back on the marker that opened it
    card.get_by_role("button", name="Read it in the document").click()
    page.wait_for_selector("#viewer mark")


@BOTH
def test_passages_are_formatted_not_raw_markdown(page):
    ask(page, "What is on List A?", "Prohibited items lists")
    # an answer may cite two passages of one document: the first card is List A's
    page.locator("li.source-card", has_text="Prohibited items lists").get_by_role(
        "button", name="Read it in the document").first.click()
    page.wait_for_selector("#viewer mark")
    assert page.inner_text("#viewer strong") == "List A"
    assert page.locator("#viewer li").count() == 3
    assert "**" not in page.inner_text("#viewer") and "- Drugs" not in page.inner_text("#viewer")


def test_markup_in_documents_is_shown_as_text_and_never_runs(page):
    ask(page, "Do clay workshops need a kiln booking and a fire risk assessment?",
        "Workshop materials")
    page.locator("li.source-card", has_text="Workshop materials").get_by_role(
        "button", name="Read it in the document").click()
    page.wait_for_selector("#viewer mark")
    assert "<script>" in page.inner_text("#viewer") and "<img" in page.inner_text("#viewer")
    for selector in ("script", "img", "iframe", "[onerror]", "a[href^='javascript']"):
        assert page.query_selector(f"#viewer {selector}") is None, selector
        assert page.query_selector(f"#conversation {selector}") is None, selector
    assert "(javascript:" in page.inner_text("#viewer")  # the link is text, not a link
    assert page.evaluate("window.__pwned") is None
    assert "<b>markup</b>" in page.inner_text("#conversation .sources")


def test_markup_in_a_question_is_shown_as_text(page):
    page.fill("#question textarea", "<img src=x onerror=\"window.__pwned=1\"> phone rules?")
    page.press("#question textarea", "Enter")
    wait_for_answer(page, "phone rules?")
    assert page.evaluate("window.__pwned") is None
    assert "<img" in page.inner_text("#conversation h3.question")
    assert page.query_selector("#conversation img") is None


@BOTH
def test_related_questions_and_the_whole_section(page):
    ask(page, PHONE_Q, PHONES)
    related = page.locator("#conversation .related button")
    assert 2 <= related.count() <= 3
    page.get_by_role("button", name="Read the whole section: “Can I take my phone in?”").click()
    page.wait_for_selector("#viewer mark")
    text = page.inner_text("#viewer")
    assert "Leave your phone in a locker" in text and "Cameras and recorders" not in text
    assert "viewer-title" in focused(page)
    page.keyboard.press("Escape")
    assert not viewer_open(page)
    follow = related.first.inner_text()
    related.first.click()
    wait_for_answer(page, follow, turns=2)
    assert page.locator("#conversation h3.question").nth(1).inner_text().endswith(follow)


def test_feedback_is_a_small_pair_and_reaches_the_staff_report(page):
    ask(page, PHONE_Q, PHONES)
    feedback = page.locator("#conversation .feedback").last
    assert feedback.get_by_role("button").count() == 2
    assert "out of date" not in feedback.inner_text()  # the reason only after "No"
    feedback.get_by_role("button", name="No, this answer was not helpful").click()
    page.get_by_role("button", name="It is out of date").click()
    page.wait_for_function("document.querySelector('#conversation .feedback .thanks')")
    assert "Thank you" in page.inner_text("#conversation .feedback")
    page.get_by_role("tab", name="Staff").click()
    page.fill("#staff-password input", PASSWORD)
    page.get_by_text("What users could not find").click()
    page.click("#staff-report-button")
    page.wait_for_function("document.querySelector('#staff-report').innerText"
                           ".includes('out of date')")
    assert PHONES in page.inner_text("#staff-report")


@BOTH
def test_the_conversation_survives_a_reload_until_a_new_one_is_started(page):
    ask(page, PHONE_Q, PHONES)
    page.reload(wait_until="load")
    page.wait_for_selector("#conversation .kept-note")
    assert PHONE_Q in page.inner_text("#conversation h3.question")
    assert page.locator("#conversation li.source-card").count() >= 1
    assert page.locator("#conversation .feedback").count() == 0  # shown, not trusted
    assert not page.is_visible("#examples")
    page.locator("#conversation button.cite").first.click()
    page.wait_for_selector("#viewer mark")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Start a new conversation").click()
    page.wait_for_selector("#conversation .empty-chat")
    assert page.is_visible("#examples")
    page.reload(wait_until="load")
    page.wait_for_selector("#question textarea")
    page.wait_for_timeout(1500)  # the saved conversation, if any, is restored by now
    assert page.locator("#conversation article.turn").count() == 0


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


@BOTH
def test_keyboard_only(page):
    page.focus("#question textarea")
    page.keyboard.type(PHONE_Q)
    page.keyboard.press("Enter")
    wait_for_answer(page, PHONES)
    for _ in range(40):  # back from the question box into the answer, to its first marker
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.matches('button.cite')"):
            break
    else:
        raise AssertionError(f"no citation marker could be reached by keyboard: {focused(page)}")
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer mark")
    assert page.evaluate("document.querySelector('#viewer').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert not viewer_open(page) and "cite" in focused(page)
    labels = page.eval_on_selector_all("input, textarea, select", "els => els.filter(e => "
                                       "e.type !== 'hidden' && e.offsetParent !== null && "
                                       "!(e.labels && e.labels.length) && "
                                       "!e.getAttribute('aria-label')).length")
    assert labels == 0
    unnamed = page.eval_on_selector_all("#conversation button, #viewer button", "els => els"
                                        ".filter(e => !(e.getAttribute('aria-label') || "
                                        "e.innerText).trim()).length")
    assert unnamed == 0


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
  const text = 'p, span, label, button, td, li, h1, h2, h3, h4, h5, a, strong, em, mark, blockquote, code';
  for (const el of document.querySelectorAll(text)) {
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


@BOTH
def test_text_contrast_passes_wcag_aa(page):
    assert page.evaluate(CONTRAST_JS) == []  # the first screen, examples open
    ask(page, PHONE_Q, PHONES)
    page.get_by_role("button", name="No, this answer was not helpful").click()
    page.get_by_role("button", name="It is wrong").wait_for()
    page.locator("#conversation button.cite").first.click()
    page.wait_for_selector("#viewer mark")
    failures = page.evaluate(CONTRAST_JS)  # answer, cards, related, reasons and the passage
    assert failures == [], failures
