"""What a learner sees: a lesson opened in JupyterLab, in a real browser (Debian's Chromium, driven by Selenium).

Screenshots go to runs/artifacts/browser/, where CI keeps artifacts; a failure says what the page showed.
"""

from __future__ import annotations

import shutil
import time

import nbformat
import pytest

from conftest import require
from mlops_workbook import paths

ARTIFACTS = paths.project_root() / "runs" / "artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    require("chromium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


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
    seen, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:
        browser.execute_script(
            "document.querySelectorAll('.jp-NotebookPanel .jp-Cell').forEach(c => c.scrollIntoView())"
        )  # every cell rendered, however JupyterLab windows the notebook
        seen = browser.execute_script(SEEN)
        if seen and seen["cells"] == len(notebook.cells) and seen["plots"] >= wanted["plots"]:
            break
        time.sleep(0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{lesson}.png"))
    assert seen, f"no notebook on the page; it showed: {browser.find_element('tag name', 'body').text[:600]}"
    assert seen["cells"] == len(notebook.cells), f"{seen['cells']} of {len(notebook.cells)} cells: {seen['text']}"
    assert seen["plots"] == wanted["plots"], f"{seen['plots']} plots shown, {wanted['plots']} stored"
    assert seen["tables"] >= wanted["tables"], f"{seen['tables']} tables shown, {wanted['tables']} stored"
    assert seen["errors"] == wanted["errors"] == 0, f"an error is shown: {seen['text']}"
