"""What a learner sees in JupyterLab, in a real browser (Debian's Chromium, driven by Selenium): a lesson's stored
plots and tables, and a lab run from top to bottom with each exercise's verdict.

Screenshots go to runs/artifacts/browser/, where CI keeps artifacts; a failure says what the page showed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from mlops_workbook.core import paths, waiting
from mlops_workbook.course import grading, verdicts

ARTIFACTS = paths.project_root() / "runs" / "artifacts" / "browser"


def expected(notebook) -> dict[str, int]:
    """What the stored notebook holds: its plots, its HTML tables and its errors."""
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    return {
        "plots": sum("image/png" in o.get("data", {}) for o in outputs),
        "tables": sum("<table" in o.get("data", {}).get("text/html", "") for o in outputs),
        "errors": sum(o["output_type"] == "error" for o in outputs),
    }


SEEN = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) return null;
return {
  cells: panel.querySelectorAll('.jp-Cell').length,
  plots: panel.querySelectorAll('.jp-RenderedImage img').length,
  tables: panel.querySelectorAll('.jp-OutputArea-output table').length,
  errors: [...panel.querySelectorAll('.jp-OutputArea-output')].filter(o => o.innerText.includes('Traceback')).length,
  text: panel.innerText.slice(0, 600),
};
"""


@pytest.mark.component("chromium")
@pytest.mark.parametrize("lesson", ["00_overview", "06_ct_training_pipeline"])
def test_a_lesson_shows_its_stored_plots_and_tables_and_no_error(jupyterlab, browser, lesson):
    notebook = nbformat.read(paths.project_root() / "notebooks" / f"{lesson}.ipynb", as_version=4)
    wanted = expected(notebook)
    browser.get(f"{jupyterlab.url}/lab/tree/notebooks/{lesson}.ipynb?token={jupyterlab.token}")
    seen = None

    def rendered() -> bool:
        nonlocal seen
        browser.execute_script(
            "document.querySelectorAll('.jp-NotebookPanel .jp-Cell').forEach(c => c.scrollIntoView())"
        )  # every cell rendered, however JupyterLab windows the notebook
        seen = browser.execute_script(SEEN)
        return bool(seen and seen["cells"] == len(notebook.cells) and seen["plots"] >= wanted["plots"])

    # 120 s: a suite sharing 2 cores with another once left JupyterLab on its launcher past 60 s
    waiting.within(rendered, 120, every=0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{lesson}.png"))
    assert seen, f"no notebook on the page; it showed: {browser.find_element('tag name', 'body').text[:600]}"
    assert seen["cells"] == len(notebook.cells), f"{seen['cells']} of {len(notebook.cells)} cells: {seen['text']}"
    assert seen["plots"] == wanted["plots"], f"{seen['plots']} plots shown, {wanted['plots']} stored"
    assert seen["tables"] >= wanted["tables"], f"{seen['tables']} tables shown, {wanted['tables']} stored"
    assert seen["errors"] == wanted["errors"] == 0, f"an error is shown: {seen['text']}"


VERDICTS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) return null;
panel.querySelectorAll('.jp-Cell').forEach(c => c.scrollIntoView());
const rows = [...panel.querySelectorAll('table.lab-summary tbody tr')].map(r => [...r.cells].map(c => c.innerText));
return {
  kernel: panel.querySelector('.jp-Toolbar-kernelName')?.innerText,
  rows: rows,
  text: [...panel.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n'),
};
"""


def run_all(browser, jupyterlab, notebook: str, exercises: int) -> dict:
    """Open a notebook, choose the workbook's kernel, Run → Run All Cells, and wait for the lab's summary."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workspace = Path(notebook).parent.name  # a fresh layout of its own: only this notebook open
    browser.get(f"{jupyterlab.url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={jupyterlab.token}")
    wait = WebDriverWait(browser, 60)

    def kernel(_=None) -> dict | None:
        """The notebook's kernel as the server knows it, once it is idle (a kernel still starting runs nothing)."""
        found = [s["kernel"] for s in jupyterlab.api("/api/sessions") if s["path"] == notebook]
        return found[0] if found and found[0]["execution_state"] == "idle" else None

    idle_in_page = (By.XPATH, "//*[contains(@class, 'jp-StatusBar')]//*[text()='Python (mlops-workbook) | Idle']")
    step = "choose the kernel"
    try:
        started = wait.until(kernel)  # JupyterLab starts the kernel the notebook names; the learner may choose again
        wait.until(
            ready.element_to_be_clickable(
                (By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName")
            )
        ).click()
        Select(
            wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, ".jp-Dialog select")))
        ).select_by_visible_text("Python (mlops-workbook)")
        browser.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept").click()
        wait.until(ready.invisibility_of_element_located((By.CSS_SELECTOR, ".jp-Dialog")))
        chosen = wait.until(lambda _: (k := kernel()) and k["id"] != started["id"] and k)
        assert chosen["name"] == "mlops-workbook", f"JupyterLab started the kernel {chosen['name']}"
        wait.until(ready.presence_of_element_located(idle_in_page))
        step = "Run → Run All Cells"
        browser.find_element(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='Run']").click()
        wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "li[data-command='runmenu:run-all']"))).click()
        step = f"wait for the summary of {exercises} exercises"
        return WebDriverWait(browser, 120).until(
            lambda b: (s := b.execute_script(VERDICTS)) and len(s["rows"]) == exercises and s
        )
    except TimeoutException:
        raise AssertionError(
            f"{notebook}: could not {step}; the page showed: {browser.execute_script(VERDICTS)}"
        ) from None
    finally:
        browser.execute_script(
            "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) table.lab-summary')?.scrollIntoView()"
        )  # the screenshot shows the lab's summary
        browser.save_screenshot(str(ARTIFACTS / f"{Path(notebook).parent.name}-{Path(notebook).stem}.png"))


@pytest.mark.component("chromium")
def test_a_lab_run_in_jupyterlab_shows_the_checkers_verdicts(jupyterlab, browser):
    """Run All on the blank lab: every exercise not yet solved; on a copy with exercise 1 solved: that one passed.

    The page must say what `mlops-workbook check` says of the same file, hint for hint. JupyterLab saves what it
    runs, so the test runs copies (kept with the screenshots), never the shipped lab.
    """
    lab = nbformat.read(paths.project_root() / "labs" / "00_overview.ipynb", as_version=4)
    solution = nbformat.read(paths.project_root() / "solutions" / "00_overview.ipynb", as_version=4)
    answer = next(c for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_stage_map_answer")
    copies = {"blank": lab, "ex1-solved": copy.deepcopy(lab)}
    next(
        c
        for c in copies["ex1-solved"].cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == answer.metadata["nbgrader"]["grade_id"]
    ).source = answer.source
    expected_passed = {"blank": set(), "ex1-solved": {"ex1_stage_map"}}
    for name, notebook in copies.items():
        path = ARTIFACTS / name / "00_overview.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
        said = {o.exercise: [o.exercise, o.status, o.hint] for o in grading.check(path)}
        seen = run_all(browser, jupyterlab, path.relative_to(paths.project_root()).as_posix(), len(said))
        assert seen["kernel"] == "Python (mlops-workbook)", f"the lab ran on {seen['kernel']!r}"
        page = browser.find_element("tag name", "body").text
        assert "Jupyter news" not in page, "JupyterLab asked about its news over the lab"
        assert seen["rows"] == list(said.values()), f"{name}: the page showed {seen['rows']}, the checker said {said}"
        assert {e for e, (_, status, _) in said.items() if status == verdicts.PASSED} == expected_passed[name]
        for exercise, status, _ in said.values():
            assert f"{exercise}: {status}" in seen["text"], (
                f"{name}: no verdict under {exercise}'s check: {seen['text']}"
            )
