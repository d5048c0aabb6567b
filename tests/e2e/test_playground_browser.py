"""The playground in a real JupyterLab, driven by Playwright in Debian's headless Chromium.

Starts JupyterLab on 127.0.0.1 with a token (on a copy of the playground and its cassette, so Lab's
autosave never touches the repository), runs every cell, then:
  - types a question into the chat box and presses Enter: a streamed reply appears (in replay mode
    typed questions go to the embedded local model, so it answers offline);
  - checks the three dashboards redrew after that call;
  - moves the RAG tuner's top_k slider with the keyboard: the table changes to that many rows.
Screenshots land in build/screenshots/. No browser is downloaded: Chromium is Debian's package
(`make e2e` installs it), Playwright only drives it.
"""
import re

import pytest

from lab_harness import CHROMIUM_FLAGS, SHOTS, chromium, jupyterlab, news_prompt_shown, open_notebook, run_all, shot

try:
    from playwright.sync_api import expect
except ImportError:   # reported by the test itself
    expect = None

QUESTION = "What is a carbon offset? One sentence."
RUN_ALL_S = 900        # MiniLM load, the cache, 149 chunks embedded, on a busy 2-core machine
REPLY_S = 600          # the local model loads, then answers (the first time ~30-60 s)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab"), ["playground"], "e2e-jupyterlab.log") as server:
        yield server


def updates(page):
    """The dashboards' redraw counters, top to bottom."""
    texts = page.locator(".glw-dashboard .glw-updates").all_text_contents()
    return [int(re.search(r"\d+", t).group()) for t in texts]


# Each dashboard's chart as drawn by plotly in the page: a subplot title, and marks for the calls so far.
DRAWN = [("Hits and misses (cumulative)", ".scatterlayer .points path", 3),
         ("Cost per day", ".barlayer .point", 3),
         ("Latency of successful attempts", ".scatterlayer .points path", 2)]


def expect_drawn(page):
    for n, (title, marks, least) in enumerate(DRAWN):
        dash = page.locator(".glw-dashboard").nth(n)
        dash.scroll_into_view_if_needed()
        expect(dash.locator(".js-plotly-plot .annotation-text", has_text=title)).to_be_visible(timeout=30_000)
        page.wait_for_function("([n, sel, least]) => document.querySelectorAll('.glw-dashboard')[n]"
                               ".querySelectorAll(sel).length >= least", arg=[n, marks, least], timeout=30_000)


def test_playground_in_jupyterlab(lab):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `make e2e` installs it "
                    "(pip install playwright; no browser download).")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        try:
            open_notebook(page, lab, "playground")
            run_all(page)
            expect(page.locator(".jp-OutputArea-output", has_text="calls in the ledger:")).to_be_visible(
                timeout=RUN_ALL_S * 1000)
            expect(page.locator(".glw-rag-table")).to_be_visible()
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
            shot(page, page.locator(".glw-chat"), "01-run-all-chat.png")

            # The chat: type, Enter, a reply streams in under the recorded ones.
            footers = page.locator(".glw-chat .glw-footer")
            before_footers = footers.count()
            assert before_footers == 2          # the two recorded replies (a miss, then a cache hit)
            before_updates = updates(page)
            box = page.locator(".glw-chat-input input")
            box.scroll_into_view_if_needed()
            box.fill(QUESTION)
            box.press("Enter")
            expect(page.locator(".glw-chat", has_text=QUESTION)).to_be_visible(timeout=30_000)
            page.wait_for_function(
                "n => document.querySelectorAll('.glw-chat .glw-footer').length > n"
                " || document.querySelector('.glw-chat .glw-error-box') !== null",
                arg=before_footers, timeout=REPLY_S * 1000)
            assert page.locator(".glw-chat .glw-error-box").count() == 0, \
                page.locator(".glw-chat .glw-error-box").first.text_content()
            reply = page.locator(".glw-chat .glw-reply").last.text_content().strip()
            assert len(reply) > 5, f"empty reply: {reply!r}"
            assert "answered now by the local model" in footers.last.text_content()
            assert not news_prompt_shown(page)   # the kit's own lab settings switch it off
            shot(page, page.locator(".glw-chat"), "02-chat-reply.png")

            # The dashboards redrew after that call (cache lookup, ledger row, provider request).
            page.wait_for_function(
                "before => { const now = [...document.querySelectorAll('.glw-dashboard .glw-updates')]"
                ".map(e => parseInt(e.textContent.match(/\\d+/)[0]));"
                " return now.length === before.length && now.every((n, i) => n > before[i]); }",
                arg=before_updates, timeout=60_000)
            assert len(before_updates) == 3
            expect_drawn(page)
            for n, name in enumerate(("cache", "cost", "health")):
                shot(page, page.locator(".glw-dashboard").nth(n), f"03-{name}-dashboard-after-chat.png")

            # The tuner: top_k 4 -> 2 with the keyboard on the slider; the table follows.
            rows = page.locator(".glw-rag-table tbody tr")
            assert rows.count() == 4
            before_table = page.locator(".glw-rag-table").inner_html()
            handle = page.locator(".glw-top-k .noUi-handle")
            handle.scroll_into_view_if_needed()
            handle.focus()
            handle.press("ArrowLeft")
            handle.press("ArrowLeft")
            expect(rows).to_have_count(2, timeout=60_000)
            assert page.locator(".glw-rag-table").inner_html() != before_table
            expect(page.locator(".glw-rag-status")).to_contain_text("2 chunks")
            shot(page, page.locator(".glw-rag-tuner"), "04-tuner-top-k-2.png")
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"))
            print("browser console errors:", *console[-20:], sep="\n  ")
            raise
        finally:
            browser.close()
