"""Tables as people read them: in a notebook's HTML, text columns read from the left.

pandas right-aligns every cell, which suits numbers (their digits line up) but makes a column of reasons, PromQL
expressions or step names hard to read. Each lesson loads this as an IPython extension
(`%load_ext mlops_workbook.course.display`): a DataFrame's HTML is then pandas' own, with `text-align: left` on
the cells and headers of its text columns, and on text row labels. The plain-text form is pandas' own too.
"""

from __future__ import annotations

import re

import pandas as pd

_LEFT = ' style="text-align: left;"'


def _is_text(dtype) -> bool:
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _text_columns(frame: pd.DataFrame) -> list[int]:
    return [i for i, dtype in enumerate(frame.dtypes) if _is_text(dtype)]


def _left(row: str, columns: list[int], count: int) -> str:
    """`row` with the cells of `columns` (counted among its last `count` cells) aligned left."""
    starts = [m.start() for m in re.finditer(r"<t[dh]>", row)][-count:] if count else []
    for i in sorted(columns, reverse=True):
        at = starts[i] + 3  # after "<td" / "<th"
        row = row[:at] + _LEFT + row[at:]
    return row


def html(frame: pd.DataFrame) -> str | None:
    """pandas' HTML for `frame`, text columns aligned left; pandas' own if the table was cut to fewer columns."""
    rendered = frame._repr_html_()
    columns = _text_columns(frame)
    if rendered is None or not columns or isinstance(frame.columns, pd.MultiIndex):
        return rendered
    count = frame.shape[1]
    if re.search(r"<th>\.\.\.</th>", rendered.split("</thead>")[0]):  # columns left out: cells no longer match
        return rendered
    head, _, body = rendered.partition("</thead>")
    head = re.sub(r"<tr[^>]*>.*?</tr>", lambda m: _left(m.group(0), columns, count), head, count=1, flags=re.S)
    body = re.sub(
        r"<tr>.*?</tr>",
        lambda m: _left(m.group(0), columns, count) if m.group(0).count("<td>") == count else m.group(0),
        body,
        flags=re.S,
    )
    if not isinstance(frame.index, pd.MultiIndex) and _is_text(frame.index.dtype):
        body = body.replace("<tr>\n      <th>", f"<tr>\n      <th{_LEFT}>")  # the row labels, text too
    return head + "</thead>" + body


def load_ipython_extension(ipython) -> None:
    ipython.display_formatter.formatters["text/html"].for_type(pd.DataFrame, html)
