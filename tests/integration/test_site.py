"""The course's website as a reader sees it: `mlops-workbook site` built, served over HTTP, read in Chromium.

Every page reached from the index is opened, every internal link followed (anchors included), every image must
load and no page may log a console error (a script or style fetched from a CDN fails offline); search finds a
lesson's term; a lab's page shows none of its solution's code.
"""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.parse

import nbformat
import pytest

from mlops_workbook.core import instance, paths, waiting
from mlops_workbook.course import runner, site, verification

PORT = instance.port(instance.TEST_PORTS["site"])
BASE = f"http://127.0.0.1:{PORT}/"
PAGE = """
return {
  title: document.title,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  broken_images: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  images: document.querySelectorAll('main img').length,
  tables: document.querySelectorAll('main table').length,
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  text: document.querySelector('main')?.innerText || document.body.innerText,
};
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # a line per file fetched says nothing a failure needs
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "public"
    site.build(out)
    handler = functools.partial(Quiet, directory=str(out))
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out
    server.shutdown()
    server.server_close()


def internal(url: str) -> bool:
    return url.startswith(BASE)


@pytest.fixture(scope="module")
def crawled(served, browser) -> dict[str, dict]:
    """Every page reachable from the index: what it showed, and the console's errors while it loaded."""
    pages: dict[str, dict] = {}
    queue = [BASE + "index.html"]
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        browser.get(url)
        seen = browser.execute_script(PAGE)
        seen["console"] = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        pages[url] = seen
        queue += [
            target
            for target, _, _ in (link.partition("#") for link in seen["links"])
            if internal(target) and not target.endswith((".ipynb", ".md", ".zip"))
        ]
    return pages


@pytest.mark.component("chromium")
def test_every_page_loads_with_its_images_and_without_a_console_error(crawled):
    for folder in ("notebooks", "labs"):
        for notebook in runner.notebooks(folder):
            section = "lessons" if folder == "notebooks" else "labs"
            assert f"{BASE}{section}/{notebook.stem}.html" in crawled, f"no page for {folder}/{notebook.name}"
    assert not any("/solutions/" in url for url in crawled), "the learners' site has a solutions page"
    for url, page in crawled.items():
        assert page["title"] != "Error response", f"{url} is a broken link"
        assert not page["broken_images"], f"{url}: images that did not load: {page['broken_images']}"
        assert not page["console"], f"{url}: console errors: {page['console']}"
    for url, page in crawled.items():  # each anchor a page links to is on its page
        for link in page["links"]:
            target, _, fragment = link.partition("#")
            if internal(target) and fragment and target in crawled:
                assert urllib.parse.unquote(fragment) in crawled[target]["ids"], f"{url} links {link}: no such anchor"


def shown(markdown: str) -> str:
    """A stamp's markdown as the page's text reads."""
    return markdown.replace("**", "").replace("`", "")


@pytest.mark.component("chromium")
def test_each_lesson_page_shows_its_stored_plots_and_tables_and_its_check(crawled):
    checks = verification.load()  # the suite records at its very end: the same record the site was built from
    for notebook in runner.notebooks("notebooks"):
        page = crawled[f"{BASE}lessons/{notebook.stem}.html"]
        cells = nbformat.read(notebook, as_version=4).cells
        title = cells[0].source.splitlines()[0].lstrip("# ")
        assert title in page["text"], f"{notebook.name}: its title {title!r} is not on its page"
        outputs = [o.get("data", {}) for cell in cells for o in cell.get("outputs", [])]
        plots = sum("image/png" in data for data in outputs)
        tables = sum(data.get("text/html", "").count("<table") for data in outputs)
        assert page["images"] == plots, f"{notebook.name}: {page['images']} images on its page, {plots} stored"
        assert page["tables"] >= tables, f"{notebook.name}: {page['tables']} tables on its page, {tables} stored"
        assert shown(site.stamp(paths.project_root(), notebook, checks)[1]) in page["text"], f"{notebook.name}'s stamp"
    for solution in runner.notebooks("solutions"):
        page = crawled[f"{BASE}labs/{solution.stem}.html"]
        assert shown(site.stamp(paths.project_root(), solution, checks)[1]) in page["text"], f"lab {solution.stem}"


@pytest.mark.component("chromium")
def test_search_finds_a_term_of_lesson_06(served, browser):
    from selenium.webdriver.common.by import By

    browser.get(BASE + "search.html?q=challenger")

    def found() -> list[str]:
        return [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results a")]

    assert waiting.within(lambda: any("06_ct_training_pipeline" in href for href in found()), 30), (
        f"search for 'challenger' found {found()}"
    )


@pytest.mark.component("chromium")
def test_a_lab_page_shows_no_line_of_its_solution(crawled):
    for solution in runner.notebooks("solutions"):
        blank = "\n".join(c.source for c in nbformat.read(paths.project_root() / "labs" / solution.name, 4).cells)
        answers = "\n".join(
            cell.source.partition("### BEGIN SOLUTION")[2].partition("### END SOLUTION")[0]
            for cell in nbformat.read(solution, as_version=4).cells
            if "### BEGIN SOLUTION" in cell.source
        )
        secret = [line.strip() for line in answers.splitlines() if len(line.strip()) > 20]
        secret = [line for line in secret if line not in blank]  # what the blank lab shows too is no secret
        assert secret, f"{solution.name}: no solution lines to look for"
        shown = crawled[f"{BASE}labs/{solution.stem}.html"]["text"]
        leaked = [line for line in secret if line in shown]
        assert not leaked, f"labs/{solution.stem}.html shows its solution: {leaked[:3]}"
