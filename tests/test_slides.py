"""Every notebook becomes a reveal.js deck that works from disk with no network.

The browser tests drive Debian's Chromium through Playwright (no browser download). They
are skipped, with the reason, where Chromium or npm is missing on a learner's machine;
under CI (``CI`` set) a missing tool is a failure, not a skip.
"""
from __future__ import annotations

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
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _has_maths(notebook: Path) -> bool:
    nb = nbformat.read(notebook, as_version=4)
    return any(c.cell_type == "markdown" and re.search(r"\$[^$\n]+\$", c.source) for c in nb.cells)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_deck_runs_offline_in_chromium(decks, browser, notebook, tmp_path):
    from PIL import Image

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    # network off: every request that is not a local file is refused and recorded
    page.route(lambda url: not url.startswith(("file:", "data:")),
               lambda route: (failed.append(route.request.url), route.abort()))
    page.goto(decks[notebook.stem].as_uri())
    page.wait_for_function("window.Reveal && window.Reveal.isReady()", timeout=30_000)
    total = page.evaluate("window.Reveal.getTotalSlides()")
    declared = slides.declared_slides(nbformat.read(notebook, as_version=4))
    assert total >= declared
    assert failed == []
    if _has_maths(notebook):
        page.wait_for_function("typeof MathJax !== 'undefined' && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                               " && document.querySelectorAll('.MathJax_CHTML, .MathJax').length > 0",
                               timeout=30_000)
    png = Image.open(io.BytesIO(page.screenshot())).convert("L")
    assert np.asarray(png).std() > 10, "the title slide looks blank"
    page.close()


def test_pdf_has_one_page_per_slide(decks, tmp_path):
    if slides.chromium() is None:
        _missing("Chromium (`apt-get install chromium`)")
    nb = NOTEBOOKS[0]
    pdf = slides.print_pdf(decks[nb.stem], tmp_path / "deck.pdf")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    assert pages == slides.declared_slides(nbformat.read(nb, as_version=4))


def test_index_links_every_deck(decks):
    index = slides.write_index([(nb, decks[nb.stem]) for nb in NOTEBOOKS], OUT)
    text = index.read_text()
    for nb in NOTEBOOKS:
        assert f'href="{nb.stem}.slides.html"' in text
