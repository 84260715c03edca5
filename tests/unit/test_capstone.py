"""The capstone's timeline keeps each step of the loop, in order, with its stage and reason."""

import matplotlib
import pandas as pd
import pytest

from mlops_workbook.course import capstone

matplotlib.use("Agg")


def test_steps_are_kept_in_order_and_printed(capsys):
    loop = capstone.Timeline()
    loop.mark("CI", "image built", "the tests passed")
    loop.mark("CD", "live in prod")
    assert capsys.readouterr().out == " 1. CI | image built\n      why: the tests passed\n 2. CD | live in prod\n"
    table = loop.table()
    assert table[["stage", "what"]].values.tolist() == [["CI", "image built"], ["CD", "live in prod"]]
    assert list(table.index) == [1, 2] and table["seconds"].is_monotonic_increasing


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="one of CI, CD, CM, CT"):
        capstone.Timeline().mark("QA", "something")


def test_the_plot_has_a_lane_per_stage_and_a_line_per_feature():
    loop = capstone.Timeline()
    for stage in capstone.STAGES:
        loop.mark(stage, f"{stage} step")
    psi = pd.DataFrame({"feature=acc_rate": [0.1, 0.5], "feature=rating": [0.0, 0.1]}, index=[-2.0, -1.0])
    figure = loop.plot(psi, threshold=0.2)
    above, below = figure.axes
    assert [t.get_text() for t in below.get_yticklabels()] == list(capstone.STAGES)
    assert [line.get_label() for line in above.get_lines()][:3] == ["acc_rate", "rating", "threshold 0.2"]
    assert len(below.collections) == len(capstone.STAGES)
