"""The chat page in a real browser (Debian's chromium, driven by Playwright): what a person sees.

Upload a PDF, ask about it, see the answer and its highlighted source sentence, ask a follow-up
and an out-of-scope question, delete the PDF. Skipped, with the reason printed, when chromium or
Playwright is missing; `.ci/run` installs both, so CI runs this tier.
"""

from __future__ import annotations

import os
import shutil

import pytest

from pipeline.chat import ANSWERED_JS
from tests.conftest import STACK_TOKEN, chat_app
from tests.test_retrieve_ingest import make_pdf

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.browser

if not CHROMIUM:
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium); the browser tier is skipped", allow_module_level=True
    )
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright); the browser tier is skipped"
)

SHOTS = os.environ.get("BROWSER_SHOTS", "")  # a folder: save screenshots there (docs/ for the README)


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module: Playwright's sync API runs once per thread."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(stack, browser):
    with chat_app(stack.urls, write_token=STACK_TOKEN, examples=["What causes tides?"]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.get_by_role("button", name="Send").wait_for(timeout=30_000)
        yield page
        page.close()


def shoot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=False)


def ask(page, question: str) -> str:
    """Type, press Send, and wait for the answer; returns the last assistant message."""
    box = page.get_by_placeholder("Ask something about your documents")
    bots = page.locator(".message.bot, [data-testid='bot']")
    before = page.locator(".message.user, [data-testid='user']").count()  # the new question is the one after these
    box.fill(question)
    page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        ANSWERED_JS,
        arg=before,
        timeout=120_000,
    )
    return bots.last.inner_text()


def test_upload_ask_follow_up_out_of_scope_delete(page, tmp_path):
    pdf = tmp_path / "glaciers.pdf"
    pdf.write_bytes(
        make_pdf(
            ["Glaciers advance when snowfall exceeds melting for many years.", "They retreat when the climate warms."]
        )
    )
    page.locator("#upload input[type=file]").set_input_files(str(pdf))
    page.get_by_role("button", name="Add to the index").click()
    # Indexed, not only chosen: the file input shows the name at once, the report once it is searchable.
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Indexed'))", timeout=60_000
    )

    answer = ask(page, "When do glaciers advance?")
    assert answer.strip() and "[1]" not in answer  # our citation reads "(source 1)"
    sources = page.get_by_text("Source 1").first
    assert sources.is_visible()  # above the fold, under the answer
    card = page.locator("p", has_text="glaciers.pdf · page 1").first  # the card says where to look
    card.wait_for(state="visible", timeout=15_000)  # the cards may render a moment after the answer
    assert sources.bounding_box()["y"] < 900
    marked = page.locator("mark")
    if "source" in answer:  # answer or likely: the quoted sentence is highlighted in its card
        assert marked.first.is_visible() and "Glaciers advance" in marked.first.inner_text()
    assert page.get_by_text("glaciers.pdf").first.is_visible()
    shoot(page, "chat-wide")

    follow = ask(page, "And when do they retreat?")
    assert follow.strip()
    page.get_by_text("How this answer was made").click()  # the follow-up was searched with the conversation
    page.get_by_text("Follow-up:").first.wait_for(state="visible", timeout=15_000)  # the details follow the answer
    page.get_by_text("How this answer was made").click()
    off = ask(page, "What is the capital of Australia?")
    assert off.strip() and "def " not in off  # never a line of code as "the closest passage"

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.get_by_role("button", name="Send").is_visible()
    shoot(page, "chat-narrow")
    page.set_viewport_size({"width": 1400, "height": 900})

    page.get_by_label("Source to delete").click()
    page.get_by_role("option", name="glaciers.pdf").click()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Removed'))", timeout=30_000
    )
    assert "glaciers.pdf" not in page.get_by_label("Source to delete").input_value()


def test_a_powerpoint_upload_is_cited_by_its_slide(page, tmp_path):
    from tests.test_office import SLIDES, make_pptx

    # Two slides: the stack's tiny random cross-encoder keeps 5 of the passages in any order, and
    # with two more there are never more than 5, so the card is there to see.
    deck = make_pptx(tmp_path / "review.pptx", SLIDES[:2])
    page.locator("#upload input[type=file]").set_input_files(str(deck))
    page.get_by_role("button", name="Add to the index").click()
    # Indexed, not only chosen: the report replaces the last one (the earlier test's "Removed").
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Indexed'))", timeout=60_000
    )
    ask(page, "How much did Nordic revenue grow in the third quarter?")
    card = page.locator("p", has_text="review.pptx · slide 2").first  # a slide, not a page
    card.wait_for(state="visible", timeout=15_000)
    page.get_by_label("Source to delete").click()
    page.get_by_role("option", name="review.pptx").click()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Removed'))", timeout=30_000
    )


def test_the_one_space_suite_opens_on_the_chat_and_has_every_stage_as_a_tab(
    browser, stack_env, start_module_space, tmp_path
):
    suite = start_module_space("suite", **{**stack_env, "RETRIEVE_INDEX_DIR": str(tmp_path / "index")})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(suite.url)
        page.get_by_role("button", name="Send").wait_for(timeout=30_000)  # the chat page comes first
        assert [page.get_by_role("tab", name=n).is_visible() for n in ("Chat", "Retrieve", "Rerank", "Generate")] == [
            True
        ] * 4
        answer = ask(page, "What causes tides?")  # answered by the stages in the suite's own process
        assert answer.strip() and page.get_by_text("Source 1").first.is_visible()
        shoot(page, "suite-chat")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the tabs and the question box still there
        assert (
            page.get_by_role("tab", name="Chat").is_visible() and page.get_by_role("button", name="Send").is_visible()
        )
        shoot(page, "suite-narrow")
        page.set_viewport_size({"width": 1400, "height": 900})
        page.get_by_role("tab", name="Retrieve").click()
        page.get_by_placeholder("Ask something about the indexed documents").fill("tides")
        page.get_by_role("button", name="Search").click()
        # The Retrieve tab's own results (the chat tab's source cards, hidden now, say it too).
        page.locator("text=gravitational pull >> visible=true").first.wait_for(timeout=30_000)
        shoot(page, "suite-retrieve")
    finally:
        page.close()
