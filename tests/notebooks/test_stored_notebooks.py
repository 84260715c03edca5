"""What every stored notebook must be: dev parameters, validated first, clean reproducible outputs."""

import ast
import json
import re

import nbformat
import pytest
import yaml

from mlops_workbook.core import environments, paths
from mlops_workbook.course import runner

ROOT = paths.project_root()
ALL = [nb for folder in ("notebooks", "solutions", "labs") for nb in sorted((ROOT / folder).glob("*.ipynb"))]
STORED = [nb for nb in ALL if nb.parent.name != "labs"]
# Parameters a notebook may add to its environment's: who approves a prod release (03_cd_serving).
EXTRA_PARAMETERS = {"approved_by"}
MACHINE_PATH = re.compile(r"(/root/|/home/[a-z]|/tmp/|/work/|/Users/|[A-Z]:\\\\)")


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_lesson_has_a_solved_lab_or_says_why_not():
    lessons = {nb.stem for nb in runner.notebooks("notebooks")}
    assert {nb.stem for nb in runner.notebooks("solutions")} <= lessons
    assert "00_overview" in lessons


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parameters_cell_holds_devs_values_and_is_validated_next_with_tables_that_read_from_the_left(path):
    cells = code_cells(path)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    values = {
        t.id: ast.literal_eval(node.value) for node in ast.parse(cells[tagged[0]].source).body for t in node.targets
    }
    dev = yaml.safe_load((ROOT / "configs" / "dev.yaml").read_text())
    assert {key: value for key, value in values.items() if key in dev} == dev
    assert set(environments.EnvConfig.model_fields) <= set(dev), "dev.yaml names every key (papermill warns otherwise)"
    assert set(values) - set(dev) <= EXTRA_PARAMETERS, "a parameter that is not the environment's"
    assert "environments.from_parameters(globals())" in cells[tagged[0] + 1].source
    assert cells[tagged[0] + 1].source.startswith("%load_ext mlops_workbook.course.display\n"), (
        "text columns read from the left"
    )


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_outputs_are_complete_and_portable(path):
    cells = code_cells(path)
    assert all(c.execution_count for c in cells), "execute it with `make notebooks`"
    for cell in cells:
        for output in cell.outputs:
            assert output.output_type != "error", f"stored error: {output.get('ename')}"
            assert output.get("name") != "stderr", f"stored stderr (a warning?): {output.get('text', '')[:200]}"
            found = MACHINE_PATH.search(json.dumps(output.get("data", output.get("text", ""))))
            assert not found, f"an output shows a machine path: {found.group(0)}"


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_stored_progress_bar_is_filled_as_far_as_its_percentage_says(path):
    for cell in code_cells(path):
        for output in cell.outputs:
            text = output.get("data", {}).get("text/plain", "") + output.get("text", "")
            for percent, blocks in re.findall(r"(\d+)%\|(█*) *\|", text):
                assert len(blocks) == round(int(percent) / 10), f"{percent}% drawn as {len(blocks)} of 10 blocks"


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebooks_use_the_project_kernel(path):
    assert nbformat.read(path, as_version=4).metadata["kernelspec"]["name"] == runner.KERNEL


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_top_says_what_it_teaches_how_long_it_runs_and_what_it_needs(path):
    nb = nbformat.read(path, as_version=4)
    top = nb.cells[0].source
    if path.parent.name == "notebooks":
        assert "**What you learn:**" in top
    assert "**How long it runs:**" in top and "**What it needs:**" in top
    code = "\n".join(c.source for c in code_cells(path))
    for component in nb.metadata.get("mlops_workbook", {}).get("needs", []):
        assert f'"{component}"' in code, f"{component} is needed: check it with envcheck.require first"
    if nb.metadata.get("mlops_workbook", {}).get("needs"):
        assert "envcheck.require(" in code, "say how to get a missing component instead of failing with a traceback"


def test_the_stored_serving_benchmark_is_the_committed_one():
    """03 shows the serving section of the committed benchmark; nbval skips that cell (a local `make bench` rewrites
    the file), so its stored output is compared with the file as committed here."""
    import subprocess

    committed = subprocess.run(
        ["git", "show", "HEAD:bench/results/latest.json"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    serving = json.loads(committed.stdout)["results"]["serving"]
    cell = next(c for c in code_cells(ROOT / "notebooks" / "03_cd_serving.ipynb") if "latest.json" in c.source)
    assert "nbval-ignore-output" in cell.metadata.get("tags", [])
    assert cell.outputs[0]["text"] == f"{serving['title']} · measured on {serving['measured'][:10]}\n", (
        "refresh 03 after `make bench`"
    )
    table = cell.outputs[1]["data"]["text/html"]
    columns = [c for c in serving["rows"][0] if c != "wrk's CPU share"]

    def value(text):  # pandas prints a column's numbers to its widest precision (46.4 as 46.40)
        try:
            return float(text)
        except ValueError:
            return text

    shown = [value(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", table)]
    expected = [value(str(row[c])) if row[c] is not None else "" for row in serving["rows"] for c in columns]
    assert shown == expected, "03's stored benchmark table is not the committed one: refresh 03 after `make bench`"
