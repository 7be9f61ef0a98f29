#!/usr/bin/env python3
"""Measure how the built decks lay out in Chromium at 1280x720, slide by slide.

    python tools/slides/layout.py                    # every deck in build/slides/
    python tools/slides/layout.py 05_lenet_mnist     # one deck
    python tools/slides/layout.py --shots DIR 05_lenet_mnist:3/1 ...   # and screenshots

It prints, for each slide that breaks a rule of CONTRIBUTING.md ("How to keep a slide
within 1280x720"), what is wrong and how much. tests/test_slides.py uses the same
measurements (``walk_deck``) and fails on any problem. Run ``make slides`` first.

A slide is measured in the slide's own pixels (reveal.js scales the 1280x720 slide to the
window): the content of the slide must lie inside the slide area, no code block may be
wider than what shows of it, every figure must be at least half the slide's height or
half its width, no ``In [n]:`` prompt may show, and no exercise slide may show a stored
"all checks passed". A slide that scrolls inside the slide area by design (the last
resort of the deck's script) is allowed only with its visible scroll cue, and is listed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent.parent / "build" / "slides"
VIEWPORT = {"width": 1280, "height": 720}

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Runs in the page: walks every slide and every fragment step (Reveal.next()) and
# measures the current slide after each step. Returns one record per step.
WALK_JS = r"""
() => {
  const R = window.Reveal;
  R.configure({transition: 'none', backgroundTransition: 'none', history: false});
  R.slide(0, 0, -1);
  const cfg = R.getConfig();
  const W = cfg.width, H = cfg.height, tol = 2;
  const out = [];
  const visible = (el) => {
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden' || parseFloat(st.opacity) === 0) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  for (let step = 0; step < 5000; step++) {
    const s = R.getCurrentSlide();
    const idx = R.getIndices();
    const scale = R.getScale();
    const area = document.querySelector('.reveal .slides').getBoundingClientRect();
    // the slide area in the window: the .slides box is the 1280x720 slide, scaled
    const ax0 = area.left, ay0 = area.top, ax1 = area.left + W * scale, ay1 = area.top + H * scale;
    const body = s.querySelector(':scope > .slide-body') || s;
    const scrolls = s.classList.contains('scroll-slide');
    const cue = s.querySelector('.scroll-cue');
    const rec = {h: idx.h, v: idx.v || 0, f: (idx.f === undefined ? -1 : idx.f), problems: [],
                 scroll: scrolls, over_h: 0, over_w: 0, figures: 0, small_figures: 0, title: ''};
    const head = s.querySelector('h1, h2, h3, h4');
    rec.title = head ? head.textContent.replace('\u00b6', '').trim().slice(0, 60) : (s.innerText || '').trim().slice(0, 60);
    // 1. everything drawn must lie inside the slide area
    let bottom = ay0, right = ax0, left = ax1, top = ay1;
    body.querySelectorAll('*').forEach((el) => {
      if (el.closest('aside.notes')) return;
      if (el.parentElement && el.parentElement.closest('.output-scroll')) return;   // inside a designed scroll box
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return;
      bottom = Math.max(bottom, r.bottom); right = Math.max(right, r.right);
      top = Math.min(top, r.top); left = Math.min(left, r.left);
    });
    const br = body.getBoundingClientRect();
    if (scrolls) {
      // designed scroll: the scroll box itself must fit, and the cue must be visible
      bottom = br.bottom; right = br.right; top = br.top; left = br.left;
      if (!cue || !visible(cue)) rec.problems.push('scrolls inside the slide without a visible cue');
    } else {
      // content cut inside the slide (an element hiding its own overflow)
      if (body.scrollHeight > body.clientHeight + tol) rec.problems.push('content hidden below the slide body');
    }
    rec.over_h = Math.max(0, Math.round((bottom - ay1) / scale), Math.round((ay0 - top) / scale));
    rec.over_w = Math.max(0, Math.round((right - ax1) / scale), Math.round((ax0 - left) / scale));
    if (rec.over_h > tol) rec.problems.push(`taller than the slide by ${rec.over_h} px`);
    if (rec.over_w > tol) rec.problems.push(`wider than the slide by ${rec.over_w} px`);
    body.querySelectorAll('pre.output-scroll').forEach((pre) => {
      rec.scroll = true;
      const cueHere = pre.parentNode.querySelector('.scroll-cue');
      if (!cueHere || !visible(cueHere)) rec.problems.push('an output scrolls without a visible cue');
    });
    // 2. code blocks: nothing cut at their right edge
    body.querySelectorAll('pre').forEach((pre) => {
      if (!visible(pre)) return;
      if (pre.parentElement.closest('.output-scroll')) return;
      if (pre.scrollWidth > pre.clientWidth + tol) rec.problems.push(`code cut at the right edge by ${pre.scrollWidth - pre.clientWidth} px`);
      const r = pre.getBoundingClientRect();
      if (!scrolls && !pre.classList.contains('output-scroll') && (r.right > ax1 + tol * scale || r.bottom > ay1 + tol * scale)) rec.problems.push('code block outside the slide');
    });
    // 3. no In [n]: / Out[n]: prompt shows
    body.querySelectorAll('.jp-InputPrompt, .jp-OutputPrompt').forEach((p) => {
      if (visible(p) && /(In|Out)\s*\[/.test(p.textContent)) rec.problems.push('shows an "In [" prompt');
    });
    if (/^\s*(In|Out)\s*\[\d*\]:/m.test(body.innerText)) rec.problems.push('shows an "In [" prompt');
    // headings in the case they were written
    body.querySelectorAll('h1, h2, h3, h4, h5, h6').forEach((hd) => {
      if (getComputedStyle(hd).textTransform !== 'none') rec.problems.push('a heading is not shown as written (text-transform)');
    });
    // 4. no stored "passed" under an exercise
    if (/all checks passed/.test(body.innerText)) rec.problems.push('shows a stored "all checks passed"');
    // 5. figures: at least half the slide's height or half its width
    body.querySelectorAll('img').forEach((im) => {
      if (!visible(im)) return;
      rec.figures += 1;
      const r = im.getBoundingClientRect();
      const fh = r.height / scale, fw = r.width / scale;
      if (fh < H / 2 - tol && fw < W / 2 - tol) {
        rec.small_figures += 1;
        rec.problems.push(`figure only ${Math.round(fw)}x${Math.round(fh)} px`);
      }
    });
    rec.problems = Array.from(new Set(rec.problems));
    out.push(rec);
    if (R.isLastSlide() && !R.availableFragments().next) break;
    const before = JSON.stringify(R.getIndices());
    R.next();
    if (JSON.stringify(R.getIndices()) === before) break;
  }
  return out;
}
"""


def open_deck(browser, deck: Path, viewport: dict = VIEWPORT):
    """A page showing ``deck`` with the network off; returns (page, failed requests)."""
    page = browser.new_page(viewport=viewport)
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.route(lambda url: not url.startswith(("file:", "data:")),
               lambda route: (failed.append(route.request.url), route.abort()))
    page.goto(deck.resolve().as_uri())
    page.wait_for_function("window.Reveal && window.Reveal.isReady()", timeout=60_000)
    page.wait_for_function("typeof MathJax === 'undefined' || !MathJax.Hub || MathJax.Hub.queue.pending === 0",
                           timeout=60_000)
    return page, failed


def walk_deck(page) -> list[dict]:
    """Every step of the deck (slides and fragments), measured; see WALK_JS."""
    return page.evaluate(WALK_JS)


def problems(steps: list[dict]) -> list[dict]:
    """One record per slide with problems (fragment steps of a slide merged), worst first."""
    by_slide: dict[tuple[int, int], dict] = {}
    for st in steps:
        key = (st["h"], st["v"])
        rec = by_slide.setdefault(key, {"slide": f"{st['h']}/{st['v']}", "title": st["title"], "problems": [],
                                        "over_h": 0, "over_w": 0, "scroll": st["scroll"]})
        rec["over_h"] = max(rec["over_h"], st["over_h"])
        rec["over_w"] = max(rec["over_w"], st["over_w"])
        rec["problems"] += [p for p in st["problems"] if p not in rec["problems"]]
    bad = [r for r in by_slide.values() if r["problems"]]
    return sorted(bad, key=lambda r: (-(r["over_h"] + r["over_w"]), -len(r["problems"])))


def scroll_slides(steps: list[dict]) -> list[str]:
    return sorted({f"{st['h']}/{st['v']}" for st in steps if st["scroll"]})


def describe(deck: str, bad: list[dict], limit: int = 10) -> str:
    lines = [f"{deck}: {len(bad)} slide(s) break the layout rules; worst first:"]
    for r in bad[:limit]:
        lines.append(f"  slide {r['slide']} ({r['title']!r}): " + "; ".join(r["problems"]))
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("decks", nargs="*", help="deck names (NN_topic), optionally NN_topic:h/v to screenshot")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--shots", type=Path, help="folder for screenshots of the slides named as NN_topic:h/v")
    args = ap.parse_args(argv)
    import shutil

    from playwright.sync_api import sync_playwright

    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    names = args.decks or sorted(p.name.removesuffix(".slides.html") for p in args.out.glob("[0-9][0-9]_*.slides.html"))
    total = bad_total = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        for name in names:
            deck, _, where = name.partition(":")
            page, failed = open_deck(browser, args.out / f"{deck}.slides.html")
            if where and args.shots:
                h, _, v = where.partition("/")
                page.evaluate("window.Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
                page.evaluate(f"window.Reveal.slide({int(h)}, {int(v or 0)}, 99)")
                page.wait_for_timeout(300)
                args.shots.mkdir(parents=True, exist_ok=True)
                shot = args.shots / f"{deck}_{h}_{v or 0}.png"
                page.screenshot(path=str(shot))
                print(shot)
                page.close()
                continue
            steps = walk_deck(page)
            slides_n = len({(s["h"], s["v"]) for s in steps})
            bad = problems(steps)
            total += slides_n
            bad_total += len(bad)
            print(f"{deck}: {slides_n} slides, {len(steps)} steps, scroll slides {scroll_slides(steps)}, failed requests {failed}")
            if bad:
                print(describe(deck, bad, limit=100))
            page.close()
        browser.close()
    if not any(":" in n for n in names):
        print(f"{bad_total} of {total} slides break the rules")
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
