"""Tables in a notebook's HTML: text columns and text row labels read from the left, numbers stay right-aligned."""

import re

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell

from mlops_workbook.course import display


def aligned_left(html: str) -> list[str]:
    return re.findall(r'<t[dh] style="text-align: left;">([^<]*)</t[dh]>', html)


def test_text_columns_and_text_row_labels_read_from_the_left_and_numbers_do_not():
    table = pd.DataFrame({"step": ["train", "evaluate"], "seconds": [1.5, 0.2], "why": ["fit", "score"]})
    html = display.html(table.set_index("step"))
    assert aligned_left(html) == ["why", "train", "fit", "evaluate", "score"]
    assert "<td>1.5</td>" in html


def test_a_table_of_numbers_or_cut_to_fewer_columns_is_pandas_own():
    numbers = pd.DataFrame({"a": [1], "b": [2.0]})
    assert display.html(numbers) == numbers._repr_html_()
    wide = pd.DataFrame({f"c{i}": ["text"] for i in range(30)})
    with pd.option_context("display.max_columns", 10):
        assert display.html(wide) == wide._repr_html_()


def test_the_extension_gives_every_dataframe_this_html():
    shell = InteractiveShell.instance()
    try:
        display.load_ipython_extension(shell)
        table = pd.DataFrame({"why": ["fit"]})
        data, _ = shell.display_formatter.format(table)
        assert aligned_left(data["text/html"]) == ["why", "fit"]
        assert data["text/plain"] == repr(table)
    finally:
        InteractiveShell.clear_instance()
