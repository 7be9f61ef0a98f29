#!/usr/bin/env python3
"""Build one reveal.js deck per notebook, working offline, plus an index page.

    python tools/slides/build.py                # decks into build/slides/
    python tools/slides/build.py --pdf          # and one PDF per deck (Debian's chromium)

The decks load reveal.js, MathJax, jQuery and require.js from ``build/slides/lib``,
installed from the npm registry by ``npm install`` (versions pinned in
``tools/slides/package.json``), never from a CDN, so they work from disk with no network.

Each deck shows the student view of the exercises (solutions, hidden tests and mark
schemes removed, through nbgrader's own preprocessors) and hides the code of cells
tagged ``hide-input``. Figures that markdown cells show from ``notebooks/figures/`` (the
block diagrams) are copied to ``build/slides/figures/``, next to the decks. Cells' ``slideshow.slide_type`` metadata decides the slides.
The decks have a 1280x720 slide; ``deck_view`` adds a title slide, leaves out check cells'
stored outputs and progress bars, and the template (``templates/course_slides``) styles
and fits each slide (see CONTRIBUTING.md, "How to keep a slide within 1280x720";
``layout.py`` measures the result in Chromium, ``split_slides.py`` sets subslides).
"""
from __future__ import annotations

import argparse
import copy
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "slides"
LIB = "lib/node_modules"  # relative to the decks, so file:// works
URLS = {
    "reveal_url_prefix": f"{LIB}/reveal.js",
    "mathjax_url": f"{LIB}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "require_js_url": f"{LIB}/requirejs/require.js",
    "jquery_url": f"{LIB}/jquery/dist/jquery.min.js",
}
SLIDE_W, SLIDE_H = 1280, 720  # the slide area, in CSS pixels (16:9, a projector's 720p)
VENDOR_FILES = ["reveal.js/dist/reveal.js", "mathjax/MathJax.js", "requirejs/require.js", "jquery/dist/jquery.min.js"]


def course_notebooks() -> list[Path]:
    """The numbered notebooks, in teaching order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def declared_slides(nb: nbformat.NotebookNode) -> int:
    """How many slides and subslides the cells' metadata declares (the first cell always
    opens a slide, whatever its type)."""
    n = 0
    for i, cell in enumerate(nb.cells):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") or (i == 0 and kind not in ("skip", "notes")):
            n += 1
    return n


def vendor_ready(out: Path) -> bool:
    return all((out / LIB / f).is_file() for f in VENDOR_FILES)


def install_vendor(out: Path) -> None:
    """``npm install`` the pinned reveal.js, MathJax, jQuery and require.js into ``out/lib``."""
    if vendor_ready(out):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install reveal.js and MathJax for offline slides: install Node.js "
                           "(e.g. `apt-get install nodejs npm`) and run `make slides` again")
    lib = out / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "package.json", lib / "package.json")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=lib, check=True)


def student_view(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as students get it: no solutions, hidden tests or mark schemes."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    resources = {"language": "python"}
    for pre in (ClearSolutions(enforce_metadata=False), ClearHiddenTests(enforce_metadata=False),
                ClearMarkScheme(enforce_metadata=False)):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def exporter() -> SlidesExporter:
    c = Config()
    c.SlidesExporter.reveal_url_prefix = URLS["reveal_url_prefix"]
    c.SlidesExporter.reveal_width = str(SLIDE_W)
    c.SlidesExporter.reveal_height = str(SLIDE_H)
    c.SlidesExporter.reveal_theme = "white"  # its font ships with reveal.js (other themes fetch Google fonts)
    c.HTMLExporter.mathjax_url = URLS["mathjax_url"]
    c.HTMLExporter.require_js_url = URLS["require_js_url"]
    c.HTMLExporter.jquery_url = URLS["jquery_url"]
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"hide-input"}
    c.TagRemovePreprocessor.remove_cell_tags = {"slides-remove"}
    ex = SlidesExporter(config=c, extra_template_basedirs=[str(HERE / "templates")], template_name="course_slides")
    ex.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    return ex


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """An nbgrader check cell: graded code that is not the learner's answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def deck_view(nb: nbformat.NotebookNode, notebook: Path) -> nbformat.NotebookNode:
    """What the deck shows, built from the student view (the stored notebook is not changed):

    - a title slide first (the notebook's ``# `` heading and its number), and the heading
      taken out of the first cell so that it is not shown twice;
    - check cells without their stored output: the exercise slides show the task and the
      stub the learner fills in, not a "passed" line the learner has not earned yet;
    - no progress bars (tqdm's lines on stderr): a slide shows the results, not 90 lines
      of "epoch 1/4:  5%|▌ ...".
    """
    nb = copy.deepcopy(nb)
    title = title_of(notebook)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            if lines and lines[0].startswith("# "):
                cell.source = "\n".join(lines[1:]).lstrip("\n")
                if not cell.source.strip():   # only the heading: the title slide shows it
                    cell.metadata.setdefault("slideshow", {})["slide_type"] = "skip"
            break
    number = notebook.stem.split("_", 1)[0]
    title_cell = nbformat.v4.new_markdown_cell(
        f'<div class="deck-title">\n\n# {title}\n\nCNN course with PyTorch · notebook {number}\n\n</div>',
        metadata={"slideshow": {"slide_type": "slide"}})
    nb.cells.insert(0, title_cell)
    for cell in nb.cells:
        if is_check_cell(cell):
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_progress_bar(o)]
    return nb


PROGRESS = re.compile(r"(\d+%\|)|(it/s\])|(s/it\])")


def is_progress_bar(output: nbformat.NotebookNode) -> bool:
    """A stored stderr stream that only draws a progress bar (or clears one)."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    text = output.get("text", "")
    return not text.strip() or bool(PROGRESS.search(text))


# A figure a markdown cell shows from the notebooks' folder: ![alt](figures/x.svg) or <img src="figures/x.svg">
FIGURE_REF = re.compile(r"""(?:\]\(\s*|src=["'])(figures/[^)"'\s]+)""")


def figure_refs(nb: nbformat.NotebookNode) -> list[str]:
    """The ``figures/...`` files the notebook's markdown cells show, in order, each once."""
    refs: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            refs += [r for r in FIGURE_REF.findall(cell.source) if r not in refs]
    return refs


def copy_figures(nb: nbformat.NotebookNode, notebook: Path, out: Path) -> list[Path]:
    """Copy the figures the markdown cells reference (``notebooks/figures/*.svg``, the block
    diagrams of ``tools/make_diagrams.py``) to ``out/figures/``: the deck keeps the relative
    links, so it shows them from disk with no network. A reference to a missing file is an
    error here rather than a broken image on a slide."""
    copied = []
    for ref in figure_refs(nb):
        if ".." in Path(ref).parts:
            raise ValueError(f"{notebook.name}: figure {ref!r} must lie inside figures/")
        src = notebook.parent / ref
        if not src.is_file():
            raise FileNotFoundError(f"{notebook.name} shows {ref}, which does not exist "
                                    "(python tools/make_diagrams.py writes the diagrams)")
        dst = out / ref
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        copied.append(dst)
    return copied


def build_deck(notebook: Path, out: Path, ex: SlidesExporter | None = None) -> Path:
    """Write ``out/<notebook stem>.slides.html`` (and the figures its markdown shows, into
    ``out/figures/``) and return the deck's path."""
    nb = deck_view(student_view(nbformat.read(notebook, as_version=4)), notebook)
    copy_figures(nb, notebook, out)
    body, _ = (ex or exporter()).from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    deck = out / f"{notebook.stem}.slides.html"
    deck.write_text(body, encoding="utf-8")
    return deck


def title_of(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


def write_index(decks: list[tuple[Path, Path]], out: Path) -> Path:
    rows = "\n".join(
        f'<li><a href="{html.escape(d.name)}">{html.escape(title_of(nb))}</a>'
        + (f' (<a href="pdf/{html.escape(nb.stem)}.pdf">PDF</a>)' if (out / "pdf" / f"{nb.stem}.pdf").exists() else "")
        + "</li>"
        for nb, d in decks
    )
    index = out / "index.html"
    index.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CNN course: lecture slides</title>
<style>body{{font-family:sans-serif;max-width:46em;margin:3em auto;line-height:1.6}}
ul.decks{{list-style:none;padding:0}}</style></head>
<body><h1>CNN course: lecture slides</h1>
<p>One reveal.js deck per notebook, in teaching order. Keys: arrows or <kbd>space</kbd> to move,
<kbd>s</kbd> speaker view (notes and timer), <kbd>f</kbd> fullscreen, <kbd>Esc</kbd> overview.
Add <code>?print-pdf&amp;pdfSeparateFragments=false</code> to a deck's address to print it, one page per slide (or run <code>make slides-pdf</code>).</p>
<ul class="decks">
{rows}
</ul></body></html>
""", encoding="utf-8")
    return index


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def print_pdf(deck: Path, pdf: Path, browser: str | None = None) -> Path:
    """Print a deck to PDF, one page per slide, with headless Chromium."""
    browser = browser or chromium()
    if browser is None:
        raise RuntimeError("Chromium is needed for PDFs: `apt-get install chromium` (Debian) and run again")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    url = deck.resolve().as_uri() + "?print-pdf&pdfSeparateFragments=false"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--virtual-time-budget=15000", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", url],
                   check=True, capture_output=True, timeout=180)
    return pdf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/slides)")
    ap.add_argument("--pdf", action="store_true", help="also print every deck to PDF with Chromium")
    ap.add_argument("notebooks", nargs="*", type=Path, help="notebooks to build (default: all numbered ones)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    install_vendor(args.out)
    ex = exporter()
    decks = []
    for nb in args.notebooks or course_notebooks():
        deck = build_deck(nb, args.out, ex)
        n = declared_slides(nbformat.read(nb, as_version=4))
        print(f"{deck.relative_to(args.out.parent) if deck.is_relative_to(args.out.parent) else deck}: {n + 1} slides (title slide included)")
        decks.append((nb, deck))
    if args.pdf:
        for nb, deck in decks:
            pdf = print_pdf(deck, args.out / "pdf" / f"{nb.stem}.pdf")
            print(f"{pdf}")
    print(write_index(decks, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
