#!/usr/bin/env python3
"""Find where a notebook's slides should be split so that each fits 1280x720, and
(with --write) set those cells' ``slideshow.slide_type`` to ``subslide``.

    python tools/slides/split_slides.py notebooks/13_x.ipynb            # report only
    python tools/slides/split_slides.py --write notebooks/13_x.ipynb    # and edit metadata

It builds the deck, lays every slide out in Chromium at the deck's size with each figure
at the size the deck gives it, and walks each slide's cells top to bottom: the first cell
that would not fit below the ones before it starts a new subslide. Only cell metadata
changes (never sources or outputs, so nbval is unaffected); cells that are already
``slide``/``subslide``/``skip``/``notes`` are left alone. A single cell taller than the
slide cannot be split this way: it is reported, and the author shortens it, splits it into
two cells, or tags long code ``hide-input`` (see CONTRIBUTING.md).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import layout  # noqa: E402

spec = importlib.util.spec_from_file_location("slides_build", HERE / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

# Runs in the page after the deck has started: for every slide, the cells that should
# start a new subslide, and the cells that do not fit even alone.
PLAN_JS = r"""
() => {
  const cfg = Reveal.getConfig(), W = cfg.width, H = cfg.height;
  const budget = H - 24;   // the slide body's padding, and a little air
  const MIN_ZOOM = 0.8;    // FIT_MIN_ZOOM of the deck's script
  const slides = document.querySelector('.reveal .slides');
  const leaves = Array.from(document.querySelectorAll('.reveal .slides section')).filter(s => !s.querySelector('section'));
  const splits = [], alone = [];
  for (const s of leaves) {
    const shown = [];
    for (let n = s; n && n !== slides; n = n.parentNode) { shown.push([n, n.style.display]); n.style.display = 'block'; }
    const body = s.querySelector(':scope > .slide-body') || s;
    // undo the deck's own fitting (zoom, scroll boxes): measure the content as it is
    const zoom = body.style.zoom, bodyH = body.style.height; body.style.zoom = ''; body.style.height = '';
    const boxes = Array.from(body.querySelectorAll('pre.output-scroll')).map(p => [p, p.style.maxHeight]);
    boxes.forEach(b => { b[0].style.maxHeight = 'none'; });
    const imgs = Array.from(body.querySelectorAll('.jp-OutputArea-output img')).filter(im => im.naturalWidth > 0);
    const saved = imgs.map(im => [im.style.width, im.style.height]);
    for (const im of imgs) {   // the size a figure should have on its slide
      const k = Math.min((W - 24) / im.naturalWidth, 0.62 * H / im.naturalHeight, 3.0);
      im.style.width = Math.floor(im.naturalWidth * k) + 'px'; im.style.height = Math.floor(im.naturalHeight * k) + 'px';
    }
    const cells = Array.from(body.querySelectorAll('.jp-Cell')).filter(c => c.getBoundingClientRect().height > 0);
    const end = cells.length ? cells[cells.length - 1].getBoundingClientRect().bottom : 0;
    let start = null;
    for (const c of cells) {
      const r = c.getBoundingClientRect();
      if (start === null) start = r.top;
      if (r.bottom - start > budget && r.top > start) {
        // what is left of a slide without figures fits if the deck shrinks it a little
        // (not below 0.8): no split, so that no short leftover gets a slide of its own
        if (!imgs.length && end - start <= 0.97 * budget / MIN_ZOOM) break;
        splits.push(c.id.replace('cell-id=', '')); start = r.top;
      }
      if (r.height > budget) alone.push([c.id.replace('cell-id=', ''), Math.round(r.height)]);
    }
    imgs.forEach((im, i) => { im.style.width = saved[i][0]; im.style.height = saved[i][1]; });
    body.style.zoom = zoom; body.style.height = bodyH;
    boxes.forEach(b => { b[0].style.maxHeight = b[1]; });
    shown.forEach(p => { p[0].style.display = p[1]; });
  }
  return {splits, alone};
}
"""


def plan(browser, notebook: Path, out: Path) -> dict:
    deck = build.build_deck(notebook, out, build.exporter())
    page, _ = layout.open_deck(browser, deck)
    try:
        return page.evaluate(PLAN_JS)
    finally:
        page.close()


def apply(notebook: Path, split_ids: list[str]) -> list[str]:
    """Set ``subslide`` on the cells with these ids where they only continue a slide."""
    nb = nbformat.read(notebook, as_version=4)
    changed = []
    for cell in nb.cells:
        if cell.get("id") in split_ids:
            show = cell.metadata.setdefault("slideshow", {})
            if show.get("slide_type", "-") in ("-", "fragment"):
                show["slide_type"] = "subslide"
                changed.append(cell.id)
    if changed:
        nbformat.write(nb, notebook)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--write", action="store_true", help="set the new subslides in the notebooks' metadata")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = build.DEFAULT_OUT
    build.install_vendor(out)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=build.chromium(), args=layout.CHROMIUM_ARGS)
        for nb in args.notebooks:
            for _ in range(5):   # a split can shift what follows: repeat until stable
                res = plan(browser, nb, out)
                print(f"{nb.name}: split before cells {res['splits']}; cells taller than a slide {res['alone']}")
                if not args.write or not res["splits"]:
                    break
                changed = apply(nb, res["splits"])
                print(f"  set subslide on {changed}")
                if not changed:
                    break
            build.build_deck(nb, out, build.exporter())
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
