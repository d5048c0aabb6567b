"""Part 1 as a learner meets it: 01_chatsession replayed in a real JupyterLab (no key), Run All, then
  - a new cell with a question of the learner's own: a labelled answer from the local model, no traceback;
  - a recorded prompt edited and re-run: the same.
JupyterLab must open without the news prompt (the kit's own lab settings). Screenshots in build/screenshots/.
"""
import json

import pytest

from lab_harness import (
    CHROMIUM_FLAGS,
    ROOT,
    SHOTS,
    chromium,
    jupyterlab,
    news_prompt_shown,
    open_notebook,
    run_all,
    shot,
    tracebacks,
)

try:
    from playwright.sync_api import expect
except ImportError:   # reported by the test itself
    expect = None

OWN_QUESTION = '''from glwork.llm import ChatSession
s = ChatSession(provider="openai", model="gpt-4o-mini")
print(s.send_message("Name one greenhouse gas other than CO2."))'''
NOTICE = "not in this notebook's recording"
RECORDED = "Calculate emissions for 100km flight"
EDITED = "Calculate emissions for 250km flight"
RUN_ALL_S = 600
REPLY_S = 600          # the local model loads (seconds), then answers, on a busy 2-core machine

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab01"), ["01_chatsession"], "e2e-jupyterlab-01.log") as server:
        yield server


def run_cell_with(page, cell, source):
    """Replace a cell's source (as typing would) and run it with Shift+Enter."""
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")


def wait_for_reply(page, cell):
    output = cell.locator(".jp-OutputArea-output")
    expect(output.first).to_contain_text(NOTICE, timeout=REPLY_S * 1000)
    page.wait_for_function("el => !el.closest('.jp-Cell').querySelector('.jp-InputPrompt').textContent.includes('*')",
                           arg=cell.element_handle(), timeout=REPLY_S * 1000)
    return " ".join(output.all_text_contents())


def test_own_question_and_edited_prompt_get_labelled_answers(lab):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `make e2e` installs it "
                    "(pip install playwright; no browser download).")
    source = json.loads((ROOT / "notebooks" / "01_chatsession.ipynb").read_text())
    basic = next("".join(c["source"]) for c in source["cells"] if RECORDED in "".join(c["source"]))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            open_notebook(page, lab, "01_chatsession")
            page.wait_for_timeout(2000)
            assert not news_prompt_shown(page), "JupyterLab asked about Jupyter news on first start"
            run_all(page)
            expect(page.locator(".glw-chat")).to_be_visible(timeout=RUN_ALL_S * 1000)
            assert tracebacks(page) == 0
            shot(page, page.locator(".jp-Cell").first, "10-chatsession-run-all.png")

            # A new cell at the end with the learner's own question.
            cells = page.locator(".jp-Notebook .jp-Cell")
            count = cells.count()
            cells.last.click()
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            expect(cells).to_have_count(count + 1)
            own = cells.nth(count)   # not cells.last: Shift+Enter adds another cell below it
            run_cell_with(page, own, OWN_QUESTION)
            text = wait_for_reply(page, own)
            assert "answered now by the local" in text and "Traceback" not in text
            assert len(text.split(NOTICE)[-1].strip()) > 3, text
            assert tracebacks(page) == 0
            shot(page, own, "11-chatsession-own-question.png")

            # Edit a recorded prompt and run that cell again.
            # by position: once edited, the cell no longer has the recorded text to be found by
            index = next(i for i in range(cells.count()) if RECORDED in cells.nth(i).inner_text())
            cell = cells.nth(index)
            run_cell_with(page, cell, basic.replace(RECORDED, EDITED))
            text = wait_for_reply(page, cell)
            assert "answered now by the local" in text and "Traceback" not in text
            assert tracebacks(page) == 0
            shot(page, cell, "12-chatsession-edited-prompt.png")
        except Exception:
            page.screenshot(path=str(SHOTS / "failure-01.png"))
            raise
        finally:
            browser.close()
