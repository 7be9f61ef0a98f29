"""Every notebook becomes a reveal.js deck that works from disk with no network.

The browser tests drive Debian's Chromium through Playwright (no browser download). They
are skipped, with the reason, where Chromium or npm is missing on a learner's machine;
under CI (``CI`` set) a missing tool is a failure, not a skip.
"""
from __future__ import annotations

import html
import importlib.util
import io
import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("slides_build", ROOT / "tools" / "slides" / "build.py")
slides = importlib.util.module_from_spec(spec)
sys.modules["slides_build"] = slides
spec.loader.exec_module(slides)

spec = importlib.util.spec_from_file_location("slides_layout", ROOT / "tools" / "slides" / "layout.py")
layout = importlib.util.module_from_spec(spec)
sys.modules["slides_layout"] = layout
spec.loader.exec_module(layout)

# Every numbered notebook, also the ones added later: the rules below are the same for all.
NOTEBOOKS = slides.course_notebooks()
OUT = slides.DEFAULT_OUT


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed here; install it to test the slides (see README)")


@pytest.fixture(scope="session")
def decks() -> dict[str, Path]:
    if not slides.vendor_ready(OUT) and shutil.which("npm") is None:
        _missing("npm (for reveal.js and MathJax)")
    OUT.mkdir(parents=True, exist_ok=True)
    slides.install_vendor(OUT)
    ex = slides.exporter()
    return {nb.stem: slides.build_deck(nb, OUT, ex) for nb in NOTEBOOKS}


class _Sections(HTMLParser):
    """Collect the text and images of each innermost <section> (one per slide)."""

    def __init__(self):
        super().__init__()
        self.stack: list[dict] = []
        self.leaves: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.stack.append({"text": "", "img": 0, "children": 0})
            if len(self.stack) > 1:
                self.stack[-2]["children"] += 1
        elif tag == "img" and self.stack:
            self.stack[-1]["img"] += 1

    def handle_endtag(self, tag):
        if tag == "section" and self.stack:
            sec = self.stack.pop()
            if sec["children"] == 0:
                self.leaves.append(sec)
            if self.stack:
                self.stack[-1]["text"] += sec["text"]
                self.stack[-1]["img"] += sec["img"]

    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_deck_has_the_declared_slides_and_none_is_empty(decks, notebook):
    deck = decks[notebook.stem]
    page = deck.read_text(encoding="utf-8")
    parser = _Sections()
    parser.feed(page)
    declared = slides.declared_slides(nbformat.read(notebook, as_version=4))
    assert declared >= 5, f"{notebook.name}: only {declared} slides declared; set slide metadata"
    assert len(parser.leaves) >= declared
    empty = [i for i, s in enumerate(parser.leaves) if not s["text"].strip() and not s["img"]]
    assert not empty, f"{notebook.name}: empty slides {empty}"
    # offline: nothing is loaded from the network
    assert not re.search(r'(src|href)="https?://', page), "the deck loads something from the network"
    # students' view: no solution or hidden test leaks into the deck
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME"):
        assert marker not in page


@pytest.fixture(scope="session")
def browser():
    exe = slides.chromium()
    if exe is None:
        _missing("Chromium (`apt-get install chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=layout.CHROMIUM_ARGS)
        yield b
        b.close()


def _has_maths(notebook: Path) -> bool:
    nb = nbformat.read(notebook, as_version=4)
    return any(c.cell_type == "markdown" and re.search(r"\$[^$\n]+\$", c.source) for c in nb.cells)


def _deck_slides(deck: Path) -> int:
    parser = _Sections()
    parser.feed(deck.read_text(encoding="utf-8"))
    return len(parser.leaves)


MAX_SCROLL_SLIDES = 2   # slides whose long output scrolls (with a cue) in one deck


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_deck_is_presentable_at_1280x720_offline(decks, browser, notebook):
    """Open the deck as a lecturer would (1280x720, network off), walk every slide and
    fragment, and measure each: content inside the slide area, code not cut, no prompts,
    no stored "passed" on exercise slides, every figure >= half the slide's height or width."""
    from PIL import Image

    page, failed = layout.open_deck(browser, decks[notebook.stem])
    try:
        total = page.evaluate("window.Reveal.getTotalSlides()")
        assert total == _deck_slides(decks[notebook.stem]) >= slides.declared_slides(nbformat.read(notebook, as_version=4))
        if _has_maths(notebook):
            assert page.evaluate("document.querySelectorAll('.MathJax_CHTML, .MathJax').length") > 0, \
                "MathJax did not typeset the maths"
        # the title slide: something is drawn (not a blank page), and it names the notebook
        png = Image.open(io.BytesIO(page.screenshot())).convert("L")
        assert np.asarray(png).std() > 10, "the title slide looks blank"
        assert slides.title_of(notebook) in page.evaluate("window.Reveal.getSlide(0).innerText")
        steps = layout.walk_deck(page)
    finally:
        page.close()
    assert failed == [], f"the deck asked the network for {failed}"
    assert len({(s["h"], s["v"]) for s in steps}) == total, "the walk did not reach every slide"
    scrolling = layout.scroll_slides(steps)
    assert len(scrolling) <= MAX_SCROLL_SLIDES, (
        f"{notebook.stem}: slides {scrolling} scroll inside the slide; at most {MAX_SCROLL_SLIDES} may "
        "(split their cells or print less; see CONTRIBUTING.md)")
    bad = layout.problems(steps)
    assert not bad, layout.describe(notebook.stem, bad) + (
        "\nSee CONTRIBUTING.md, 'How to keep a slide within 1280x720'; "
        f"`python tools/slides/split_slides.py --write notebooks/{notebook.name}` sets subslides where a slide is too tall.")


def test_printed_deck_cuts_nothing(decks, browser):
    """?print-pdf: one page per slide, and every slide's content inside its page (the deck
    with a long output that scrolls on screen is shrunk to fit on paper)."""
    nb = next((n for n in NOTEBOOKS if "googlenet" in n.stem), NOTEBOOKS[0])
    page = browser.new_page(viewport=layout.VIEWPORT)
    try:
        page.goto(decks[nb.stem].as_uri() + "?print-pdf&pdfSeparateFragments=false")  # as make slides-pdf
        page.wait_for_function("document.querySelectorAll('.pdf-page').length > 0", timeout=60_000)
        res = page.evaluate("""() => Array.from(document.querySelectorAll('.pdf-page')).map((p, i) => {
            const pr = p.getBoundingClientRect(); let bottom = pr.top, right = pr.left;
            p.querySelectorAll('section *').forEach(el => { const r = el.getBoundingClientRect();
              if (r.width && r.height) { bottom = Math.max(bottom, r.bottom); right = Math.max(right, r.right); } });
            return {i, over_h: Math.round(bottom - pr.bottom), over_w: Math.round(right - pr.right)}; })""")
    finally:
        page.close()
    assert len(res) == _deck_slides(decks[nb.stem])
    cut = [r for r in res if r["over_h"] > 2 or r["over_w"] > 2]
    assert not cut, f"{nb.stem}: printed pages cut their slide: {cut[:10]}"


def test_pdf_has_one_page_per_slide(decks, tmp_path):
    if slides.chromium() is None:
        _missing("Chromium (`apt-get install chromium`)")
    nb = NOTEBOOKS[0]
    pdf = slides.print_pdf(decks[nb.stem], tmp_path / "deck.pdf")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    assert pages == _deck_slides(decks[nb.stem])


def test_index_lists_every_deck_once_in_order_with_its_title(decks):
    index = slides.write_index([(nb, decks[nb.stem]) for nb in NOTEBOOKS], OUT)
    text = index.read_text()
    links = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', text)
    assert [href for href, _ in links] == [f"{nb.stem}.slides.html" for nb in NOTEBOOKS]
    assert [html.unescape(t) for _, t in links] == [slides.title_of(nb) for nb in NOTEBOOKS]
    assert "<ol" not in text, "the titles carry their numbers: a numbered list numbers each deck twice"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_deck_keeps_speaker_notes_and_drops_passed_checks(decks, notebook):
    nb = nbformat.read(notebook, as_version=4)
    page = decks[notebook.stem].read_text(encoding="utf-8")
    notes = sum(c.metadata.get("slideshow", {}).get("slide_type") == "notes" for c in nb.cells)
    assert page.count('<aside class="notes">') == notes
    checks = [c for c in nb.cells if slides.is_check_cell(c)]
    assert checks, f"{notebook.name} has no check cells"
    assert "all checks passed" not in page, "an exercise slide shows a stored check output"
    assert "it/s]" not in page, "a progress bar is on a slide"


# ---- a static lint (no browser): cells that will not fit a 1280x720 slide -------------
# The numbers are those of CONTRIBUTING.md ("How to keep a slide within 1280x720"): at the
# deck's sizes a slide holds about 20 lines of prose or 30 lines of code, and the deck may
# shrink a slide to 0.8 before it must scroll. A cell beyond these cannot be split by
# slide metadata, so the author has to act; long printed outputs are allowed (they scroll
# in a box of their own, with a cue).
MAX_MARKDOWN_LINES = 22     # of at most 95 characters (24 px text across 1280 px)
MAX_CODE_LINES = 32         # of at most 125 characters (17 px code), unless tagged hide-input
MAX_FIGURES_PER_CELL = 2


def _lines(text: str, width: int) -> int:
    return sum(max(1, -(-len(line) // width)) for line in text.splitlines())


def lint_notebook(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("skip", "notes") or "slides-remove" in cell.metadata.get("tags", []):
            continue
        where = f"cell {i} ({cell.get('id')}, {cell.source.splitlines()[0][:40] if cell.source else ''!r})"
        if cell.cell_type == "markdown" and _lines(cell.source, 95) > MAX_MARKDOWN_LINES:
            found.append(f"{where}: {_lines(cell.source, 95)} lines of markdown (at most {MAX_MARKDOWN_LINES}): split the cell")
        if cell.cell_type == "code":
            if "hide-input" not in cell.metadata.get("tags", []) and _lines(cell.source, 125) > MAX_CODE_LINES:
                found.append(f"{where}: {_lines(cell.source, 125)} lines of code (at most {MAX_CODE_LINES}): "
                             "split it, move helpers to cnnlib, or tag it hide-input")
            figs = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
            if figs > MAX_FIGURES_PER_CELL:
                found.append(f"{where}: {figs} figures in one cell (at most {MAX_FIGURES_PER_CELL}): one figure per cell")
    return found


def test_lint_flags_what_will_not_fit():
    long_md = nbformat.v4.new_markdown_cell("\n".join(["word " * 15] * 30))
    long_code = nbformat.v4.new_code_cell("\n".join(["x = 1"] * 40))
    hidden = nbformat.v4.new_code_cell("\n".join(["x = 1"] * 40), metadata={"tags": ["hide-input"]})
    short = nbformat.v4.new_markdown_cell("## A title\n\nOne idea.")
    found = lint_notebook(nbformat.v4.new_notebook(cells=[long_md, long_code, hidden, short]))
    assert len(found) == 2 and "markdown" in found[0] and "code" in found[1]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_is_too_big_for_a_slide(notebook):
    found = lint_notebook(nbformat.read(notebook, as_version=4))
    assert not found, f"{notebook.name}: cells that will not fit a 1280x720 slide:\n  " + "\n  ".join(found)


def test_deck_shows_markdown_figures_offline(tmp_path):
    """A diagram shown from a markdown cell (``![alt](figures/x.svg)``, as the notebooks show
    notebooks/figures/*.svg) is copied next to the deck, so that its relative link works from
    disk; a link to a figure that does not exist fails the build instead of leaving a broken image."""
    svg = sorted((ROOT / "notebooks" / "figures").glob("*.svg"))[0]
    src = tmp_path / "notebooks"
    (src / "figures").mkdir(parents=True)
    shutil.copy(svg, src / "figures" / svg.name)
    slide = {"slideshow": {"slide_type": "subslide"}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · A deck with a diagram", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell(f"![a block diagram](figures/{svg.name})\n\nOne sentence.", metadata=slide)])
    nbformat.write(nb, src / "99_diagram.ipynb")
    out = tmp_path / "slides"
    out.mkdir()
    deck = slides.build_deck(src / "99_diagram.ipynb", out)
    images = re.findall(r'<img[^>]*src="([^"]+)"', deck.read_text(encoding="utf-8"))
    assert images == [f"figures/{svg.name}"]
    assert (deck.parent / images[0]).read_bytes() == svg.read_bytes()
    nb.cells[1].source = "![gone](figures/not_there.svg)"
    nbformat.write(nb, src / "99_diagram.ipynb")
    with pytest.raises(FileNotFoundError, match="not_there.svg"):
        slides.build_deck(src / "99_diagram.ipynb", out)
