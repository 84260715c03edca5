"""Progress bars whose final state can be stored in a notebook: the count and the time taken, no per-run rate.

tqdm's default ends a bar with its speed (`12.3step/s`), which differs on every machine and every run, so a
stored output would show a reader a number their run never gives. Every bar the workbook draws comes from here.
"""

from __future__ import annotations

from tqdm.auto import tqdm

FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit}s [{elapsed}]"


def bar(iterable=None, **options) -> tqdm:
    """tqdm (a widget in a notebook, text elsewhere) drawn as FORMAT; `options` are tqdm's (desc, total, unit)."""
    return tqdm(iterable, bar_format=FORMAT, **options)
