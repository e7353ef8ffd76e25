"""Printed referral letters in a warm process: how long WeasyPrint takes to render one
already composed letter (English and Persian), how long a whole print takes (reads through
the FHIR door, compose, render, audit) on SQLite (and PostgreSQL with --postgresql or
--postgres-url), the memory it needs, and a plain WeasyPrint render of the same HTML for
comparison. Prints figures only; asserts nothing.

Run: `python bench/bench_letters.py [--renders 40] [--prints 40] [--postgresql]`.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import os
import platform
import pstats
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import pikepdf
from sqlalchemy import text
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import Principal, operator
from screening.boundary import AppState
from screening.config import Config
from screening.fhir.searchset import resources
from screening.letters.content import Letter, compose
from screening.letters.render import BASE as RENDER_BASE
from screening.letters.render import PDF_VARIANT, Embedded, Renderer
from screening.letters.service import print_letter, renderer, setting
from screening.letters.sources import Sources, bundle_bytes, gather, letter_bundle
from screening.migrate import upgrade
from screening.paths import data_dir
from screening.referrals import demo
from screening.store.seed import seed_database
from screening.web.i18n import LANGUAGES, Catalogue, load_catalogue

BASE = "http://localhost/fhir"
PASSWORD = "a long bench secret 42"
TARGET_MS = 150.0  # the target: one one-page letter, warm process, each language
WARM_UP = 3
PG_DATABASE = "bench_letters"


def timed(action: Callable[[], Any], runs: int, warm_up: int = WARM_UP) -> list[float]:
    """Milliseconds of each of `runs` calls, after `warm_up` calls that are not counted."""
    for _ in range(warm_up):
        action()
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def p95(spent: list[float]) -> float:
    ordered = sorted(spent)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def line(name: str, spent: list[float]) -> str:
    return (
        f"  {name:<50} n={len(spent):<3} median {statistics.median(spent):6.1f} ms"
        f"  p95 {p95(spent):6.1f}  min {min(spent):6.1f}"
    )


def pages(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


def peak_rss_mib() -> float:
    """The process's peak resident set so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- the machine


def _proc_field(path: str, key: str) -> str | None:
    try:
        for row in Path(path).read_text().splitlines():
            if row.startswith(key):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> list[str]:
    memory = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(memory.split()[0]) / 1024**2:.1f} GiB" if memory else "?"
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "?"
    return [
        f"date:       {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"platform:   {platform.platform()}",
        f"cpu:        {cpu} x {os.cpu_count()} (cpu count)",
        f"memory:     {ram}",
        f"load:       {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)",
        f"python:     {platform.python_version()} ({platform.python_implementation()})",
        f"weasyprint: {version('weasyprint')}, pydyf {version('pydyf')}, "
        f"pikepdf {version('pikepdf')} (page count)",
        f"sqlite:     {sqlite3.sqlite_version}",
    ]


# ------------------------------------------------------------------------- the data


@dataclass
class Demo:
    """A database holding `screening demo`, with the clinician who prints."""

    state: AppState
    clinician: Principal
    request_id: str

    def send(self, req: FhirRequest) -> Any:
        return perform(self.state, self.clinician, req, base_url=BASE)


def load(url: str) -> Demo:
    """Migrate, seed and load the demo at `url`; one of the demo's referrals to print."""
    upgrade(url)
    seed_database(url)
    state = AppState.build(Config(database_url=url))
    demo.load_demo(state, operator("bench"), BASE, PASSWORD, say=lambda _: None)
    clinician = demo.demo_user(state, "demo-clinician")
    send = partial(perform, state, clinician, base_url=BASE)
    found = resources(send(FhirRequest("GET", "ServiceRequest", query=[("_count", "50")])).body)
    # the referral with the most behind it (reasons and evidence), so the letter is full
    chosen = max(found, key=lambda r: (len(r.get("reasonReference", [])), r["id"]))
    return Demo(state, clinician, str(chosen["id"]))


def composed(data: Demo, catalogue: Catalogue, lang: str) -> tuple[Letter, Embedded]:
    """The letter and embedded Bundle exactly as print_letter makes them."""
    sources = gather(data.send, data.request_id)
    bundle = letter_bundle(sources, BASE)
    letter = compose(sources, setting(data.state, catalogue, lang, BASE))
    embedded = Embedded(
        data=bundle_bytes(bundle),
        name=f"referral-{sources.number or data.request_id}.json",
        created=str(sources.request.get("authoredOn") or ""),
        modified=str(bundle.get("timestamp") or ""),
    )
    return letter, embedded


# ---------------------------------------------------------------------------- the runs


def fresh_pdf(letter: Letter, catalogue: Catalogue, embedded: Embedded) -> bytes:
    """A letter from a renderer built for it alone (fonts, stylesheet, template loaded)."""
    return Renderer().pdf(letter, catalogue, embedded)


@dataclass(frozen=True)
class Rendered:
    """A composed letter and its median render time."""

    letter: Letter
    embedded: Embedded
    median: float


def phases(shared: Renderer, letter: Letter, catalogue: Catalogue, embedded: Embedded,
           runs: int) -> str:  # fmt: skip
    """Where one render's time goes, timed apart (no profiler): the Jinja template, the
    WeasyPrint layout (HTML parse, styles, pages) and the PDF writing, with the options
    Renderer.pdf passes."""
    html = shared.html(letter, catalogue, embedded)

    def options() -> dict[str, Any]:  # an Attachment can be written once only
        attachment = Attachment(string=embedded.data, name=embedded.name, relationship="Data")
        return {
            "stylesheets": [shared.stylesheet],
            "pdf_variant": PDF_VARIANT,
            "attachments": [attachment],
            "pdf_identifier": b"0" * 32,
        }

    def layout() -> Any:
        document = HTML(string=html, base_url=RENDER_BASE, url_fetcher=shared.fetcher)
        return document.render(font_config=shared.fonts, **options())

    laid_out = layout()

    def write() -> bytes:
        found: bytes = laid_out.write_pdf(**options())
        return found

    template = timed(partial(shared.html, letter, catalogue, embedded), runs)
    paging = timed(layout, runs)
    writing = timed(write, runs)
    return (
        f"    of which template {statistics.median(template):.1f} ms,"
        f" layout {statistics.median(paging):.1f} ms,"
        f" PDF writing {statistics.median(writing):.1f} ms (medians of {runs})"
    )


def plain_pdf(html: str, folder: Path) -> bytes:
    """The baseline: WeasyPrint's defaults, nothing reused (the stylesheet and the fonts are
    read from disk and a font configuration is made for each letter), no PDF/A, no file."""
    fonts = FontConfiguration()
    sheet = CSS(filename=str(folder / "letter.css"), font_config=fonts)
    page = HTML(string=html, base_url=f"{folder}/")
    found: bytes = page.write_pdf(stylesheets=[sheet], font_config=fonts)
    return found


def render_only(data: Demo, catalogue: Catalogue, runs: int) -> dict[str, Rendered]:
    """Renderer.pdf on composed letters, by language."""
    shared = renderer()
    folder = data_dir("templates") / "letters"
    few = max(5, runs // 4)
    found: dict[str, Rendered] = {}
    for lang in LANGUAGES:
        letter, embedded = composed(data, catalogue, lang)
        render = partial(shared.pdf, letter, catalogue, embedded)
        spent = timed(render, runs)
        found[lang] = Rendered(letter, embedded, statistics.median(spent))
        pdf = render()
        print(line(f"{lang}: Renderer.pdf (warm, shared renderer)", spent))
        print(f"    {pages(pdf)} page(s), {len(pdf):,} bytes (PDF/A-3b, Bundle embedded)")
        print(phases(shared, letter, catalogue, embedded, few))
        tracemalloc.start()
        render()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"    tracemalloc peak during one render: {peak / 1024**2:.1f} MiB (Python only)")
        # what the caching buys: a fresh Renderer (fonts, stylesheet, template) per letter
        fresh = timed(partial(fresh_pdf, letter, catalogue, embedded), few)
        print(line(f"{lang}: fresh Renderer() per letter", fresh))
        html = shared.html(letter, catalogue, embedded)
        baseline = timed(partial(plain_pdf, html, folder), few)
        plain = plain_pdf(html, folder)
        print(line(f"{lang}: plain HTML(string=...).write_pdf()", baseline))
        print(f"    {pages(plain)} page(s), {len(plain):,} bytes (plain PDF, nothing embedded)")
    return found


def compose_in(data: Demo, catalogue: Catalogue, lang: str, sources: Sources) -> Letter:
    """What print_letter does between reading and rendering."""
    return compose(sources, setting(data.state, catalogue, lang, BASE))


def whole_print(data: Demo, catalogue: Catalogue, runs: int) -> None:
    """print_letter: reads through the door, compose, render and audit, by language."""
    for lang in LANGUAGES:

        def once(lang: str = lang) -> None:
            print_letter(data.state, data.clinician, data.request_id, lang, BASE, catalogue)

        print(line(f"{lang}: print_letter (read, compose, render, audit)", timed(once, runs)))
        sources = gather(data.send, data.request_id)
        reads = timed(partial(gather, data.send, data.request_id), 10, warm_up=0)
        composing = timed(partial(compose_in, data, catalogue, lang, sources), 10, warm_up=0)
        print(
            f"    of which reads (gather) {statistics.median(reads):.1f} ms,"
            f" compose {statistics.median(composing):.1f} ms (medians of 10)"
        )


def profile(rendered: Rendered, catalogue: Catalogue, runs: int = 10) -> None:
    """cProfile of `runs` warm renders: the top 25 functions by cumulative time."""
    letter, embedded = rendered.letter, rendered.embedded
    shared = renderer()
    shared.pdf(letter, catalogue, embedded)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        shared.pdf(letter, catalogue, embedded)
    profiler.disable()
    print(f"\ncProfile of {runs} warm renders ({letter.lang}), top 25 by cumulative time:")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(25)


def loaded(url: str, label: str) -> Demo:
    """The demo at `url`, saying how long loading it took."""
    start = time.perf_counter()
    data = load(url)
    print(f"{label}: demo loaded in {time.perf_counter() - start:.0f} s")
    return data


def _pgcluster() -> ModuleType:
    """tests/pgcluster.py (not part of the installed package), loaded from its file."""
    path = Path(__file__).resolve().parents[1] / "tests" / "pgcluster.py"
    spec = importlib.util.spec_from_file_location("pgcluster", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgcluster"] = module
    spec.loader.exec_module(module)
    return module


def postgres(url: str, catalogue: Catalogue, args: argparse.Namespace) -> None:
    """Whole prints on the PostgreSQL database at `url`."""
    data = loaded(url, "\nPostgreSQL")
    try:
        with data.state.engine.connect() as conn:
            print(f"  server {conn.execute(text('SHOW server_version')).scalar()}")
        whole_print(data, catalogue, args.prints)
    finally:
        data.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=40, help="timed renders per language")
    parser.add_argument("--prints", type=int, default=40, help="timed prints per language")
    parser.add_argument(
        "--postgresql", action="store_true",
        help="also on PostgreSQL, in a throwaway cluster (tests/pgcluster.py; it uses the "
        "server of SCREENING_TEST_POSTGRES_URL instead when that is set)",
    )  # fmt: skip
    parser.add_argument("--postgres-url", help="also on this (empty, migratable) database")
    parser.add_argument("--profile", action="store_true", help="cProfile the renders anyway")
    args = parser.parse_args()
    for row in machine():
        print(row)
    catalogue = load_catalogue(data_dir("templates") / "messages")
    print(f"\npeak RSS after imports: {peak_rss_mib():.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        data = loaded(f"sqlite:///{tmp}/bench.db", f"SQLite {sqlite3.sqlite_version}")
        try:
            before = peak_rss_mib()
            print(f"\nRender only (the letter of ServiceRequest/{data.request_id}):")
            rendered = render_only(data, catalogue, args.renders)
            print("\nWhole print on SQLite (file):")
            whole_print(data, catalogue, args.prints)
            after = peak_rss_mib()
        finally:
            data.state.engine.dispose()
    if args.postgres_url:
        postgres(args.postgres_url, catalogue, args)
    if args.postgresql:
        with _pgcluster().PgCluster() as cluster:
            postgres(cluster.create_database(PG_DATABASE), catalogue, args)
    print(f"\npeak RSS (ru_maxrss): {before:.0f} MiB after loading the demo, {after:.0f} MiB"
          f" after the renders and SQLite prints, {peak_rss_mib():.0f} MiB at the end")  # fmt: skip
    print(f"load at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    over = [r for r in rendered.values() if r.median > TARGET_MS]
    figures = ", ".join(f"{lang} {r.median:.0f} ms" for lang, r in rendered.items())
    print(f"target <= {TARGET_MS:.0f} ms per one-page letter, warm (median of Renderer.pdf):"
          f" {'NOT met' if over else 'met'} ({figures})")  # fmt: skip
    for each in over or (list(rendered.values()) if args.profile else []):
        profile(each, catalogue)


if __name__ == "__main__":
    main()
