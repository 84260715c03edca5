"""The course as a static website, built offline from the stored notebooks as nbval checked them.

Sphinx with myst-nb renders each notebook's stored outputs and executes nothing, so a page shows exactly what the
suite compared; each page opens with a stamp saying when, at which commit and with which lock that was
(`verification`), or that its notebook changed since. Jupyter Book 2 (mystmd) would be the first choice, but it
downloads its theme at build time, and this machine reaches only PyPI, Debian and npm.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from mlops_workbook.core import errors, paths
from mlops_workbook.course import labs, runner, verification

TITLE = "MLOps automation workbook"
BENCH = Path("bench") / "results"
WIDGET = "application/vnd.jupyter.widget-view+json"
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/>'
    '<text x="8" y="12" font-size="9" text-anchor="middle" fill="white" font-family="sans-serif">ML</text></svg>'
)
CONF = f"""# Written by mlops_workbook.course.site: never executed (the stored outputs are the checked ones).
project = {TITLE!r}
author = "the workbook's contributors"
extensions = ["myst_nb"]
nb_execution_mode = "off"
myst_heading_anchors = 3  # the README's links to its own sections (#for-instructors) keep working
html_theme = "sphinx_book_theme"
html_title = {TITLE!r}
html_theme_options = {{"show_toc_level": 2}}
html_context = {{"default_mode": "light"}}  # without it, the theme logs an error on a reader's first visit
html_favicon = "favicon.svg"  # without one, every page's browser asks for /favicon.ico and gets a 404
html_last_updated_fmt = None
exclude_patterns = ["_build"]
"""


def build(out: Path, solutions: bool = False) -> Path:
    """Write the site's pages to `out`/ (index.html first); with `solutions`, the solved labs too (instructors)."""
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise errors.BadInputError(
            f"{out} holds files that are not a site this command built, and building empties it first: "
            "choose a new or empty folder (--out)"
        )
    root = paths.project_root()
    checks = verification.load(root)
    sections = {"lessons": "notebooks", "labs": "labs"} | ({"solutions": "solutions"} if solutions else {})
    with tempfile.TemporaryDirectory(prefix="site-") as work:
        source = Path(work) / "source"
        source.mkdir()
        stale = labs.stale_labs()
        pages = {
            section: [
                _notebook_page(root, folder, nb, source / section, checks, stale) for nb in runner.notebooks(folder)
            ]
            for section, folder in sections.items()
        }
        readme = (root / "README.md").read_text().removeprefix(f"# {TITLE}\n")
        (source / "readme.md").write_text("# Running the workbook: the README\n" + readme)
        (source / "bench.md").write_text(_bench_page(root))
        (source / "index.md").write_text(_index(pages))
        (source / "conf.py").write_text(CONF)
        (source / "favicon.svg").write_text(FAVICON)
        html = Path(work) / "build" / "html"  # myst-nb writes images beside it (build/jupyter_execute), not in `out`
        built = subprocess.run(
            [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(source), str(html)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            raise errors.WorkbookError(
                f"Sphinx could not build the site (a page's markdown or outputs):\n{built.stderr}"
            )
        shutil.rmtree(html / ".doctrees")
        shutil.rmtree(out, ignore_errors=True)  # a page dropped since the last build must not stay online
        shutil.copytree(html, out)
    return out / "index.html"


def stamp(root: Path, notebook: Path, checks: dict[str, verification.Check]) -> tuple[bool, str]:
    """(verified, what to say) about a notebook's last check: verified, failed, changed since, or never checked."""
    name = notebook.relative_to(root).as_posix()
    check = checks.get(name)
    if check is None:
        return False, (
            f"**Not checked:** no recorded test run executed `{name}` (`{verification.RECORD}`); "
            "`make reproduce` executes it and compares its outputs."
        )
    when = check.checked_at.replace("T", " ").removesuffix("+00:00") + " UTC"
    commit = check.commit[:10] + (" with uncommitted changes" if check.commit.endswith("+changes") else "")
    if verification.digest(notebook) != check.sha256:
        return False, (
            f"**Changed since its last check** on {when} (commit {commit}): what this page shows was not compared; "
            "`make reproduce` checks it."
        )
    if not check.passed:
        return False, (
            f"**Failed its last check** on {when} (commit {commit}): a cell raised or printed other than what this "
            "page shows; `make reproduce` says which."
        )
    cells = nbformat.read(notebook, as_version=4).cells
    unchecked = sum("nbval-ignore-output" in cell.metadata.get("tags", []) for cell in cells)
    return True, (
        f"**Verified:** every cell executed with the parameters of the `{check.env}` environment and its text outputs "
        f"compared (nbval, plots by their text form"
        + (f"; {unchecked} cell{'s' * (unchecked > 1)} marked `nbval-ignore-output` executed only" if unchecked else "")
        + f") on {when}, commit {commit}, lock `{verification.LOCK}` sha256 {check.lock_sha256[:12]}."
    )


def _notebook_page(root: Path, folder: str, notebook: Path, section: Path, checks, stale: list[str]) -> str:
    """The notebook as a page: its cells and stored outputs, the stamp under its title."""
    page = _without_widgets(nbformat.read(notebook, as_version=4))
    if folder == "labs":  # a blank lab is checked through its solution, from which it is generated
        verified, said = stamp(root, root / "solutions" / notebook.name, checks)
        if paths.show(notebook) in stale:
            verified, said = False, "**Out of date:** not what its solution generates now (`make labs`). " + said
        said = f"The blank lab, generated from `solutions/{notebook.name}`. {said}"
    else:
        verified, said = stamp(root, notebook, checks)
    if any(str(BENCH) in cell.source or "make bench" in cell.source for cell in page.cells):
        said += " The figures it quotes come from the [benchmarks](../bench.md)."
    page.cells.insert(1, nbformat.v4.new_markdown_cell(f"```{{{'tip' if verified else 'warning'}}}\n{said}\n```"))
    section.mkdir(exist_ok=True)
    nbformat.write(page, section / notebook.name)
    return f"{section.name}/{notebook.stem}"


def _without_widgets(page):
    """Progress bars as their final line of text: a widget would need its JavaScript from a CDN at every view."""
    page.metadata.pop("widgets", None)
    for cell in page.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET, None)
    return page


def _bench_page(root: Path) -> str:
    sections = json.loads((root / BENCH / "latest.json").read_text())["results"]
    when = ", ".join(f"{name} {section['measured']}" for name, section in sections.items())
    return (root / BENCH / "latest.md").read_text() + (
        f"\n\n```{{note}}\nThe committed benchmark (`{BENCH}/latest.md`), each section measured on its own date "
        f"({when}); `make bench` measures them again.\n```\n"
    )


def _index(pages: dict[str, list[str]]) -> str:
    trees = "\n".join(
        f"```{{toctree}}\n:caption: {section.capitalize()}\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n"
        for section, names in {"start here": ["readme"], **pages, "measured": ["bench"]}.items()
    )
    return f"""# {TITLE}

Learn, by running real code, how an ML project automates each stage of its life: CI, CD, CT and CM, in dev,
staging and prod. Read a lesson, then solve its lab; [the README](readme.md) says how to run them
([learners](readme.md#three-ways-to-use-it), [instructors](readme.md#for-instructors)).

Every page is a stored notebook with the outputs the test suite executed and compared: nothing here ran when
the site was built, and each page says when it was checked.

{trees}"""
