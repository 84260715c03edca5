"""The checker's timeout stops a learner's endless loop, not the workbook's own set-up on a loaded machine."""

from nbformat.v4 import new_code_cell, new_notebook

from mlops_workbook.course import execution, verdicts


def test_a_slow_set_up_finishes_and_a_slow_answer_times_out(tmp_path):
    setup = new_code_cell("import time\ntime.sleep(3)\nready = True")  # slower than the learner's timeout
    answer = new_code_cell("time.sleep(60)", metadata={"nbgrader": {"solution": True, "grade_id": "ex1_answer"}})
    check = new_code_cell("assert ready", metadata={"nbgrader": {"grade": True, "grade_id": "ex1", "points": 1}})
    nb = execution.here(new_notebook(cells=[setup, answer, check]), 1, tmp_path, "python3")

    errors = [[o.get("ename") for o in c.outputs if o.output_type == "error"] for c in nb.cells]
    assert errors[0] == errors[2] == [], "the set-up ran to its end"
    assert len(errors[1]) == 1 and errors[1][0] in verdicts.INTERRUPTED, "the answer was stopped at 1 s"
