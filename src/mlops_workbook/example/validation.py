"""Validate a data batch against the declared schema, before anything is written.

The checks are pandera's (types, ranges, nulls, duplicate keys, row count); this
module only compiles `schema.COLUMNS` into a pandera schema and turns pandera's
failure cases into a report that names each failed check and its columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from mlops_workbook.core import errors
from mlops_workbook.example import schema

# pandera's internal check names, said the way a person reading the report would.
_READABLE = {
    "column_in_dataframe": "missing column",
    "column_in_schema": "unexpected column",
    "field_uniqueness": "duplicate key",
    "not_nullable": "null values",
}
_REPORT_COLUMNS = ["check", "column", "detail"]


def _null_share_check(limit: float) -> pa.Check:
    return pa.Check(
        lambda s: s.empty or s.isna().mean() <= limit,
        ignore_na=False,
        name=f"at most {limit:.0%} nulls",
    )


Rules = dict[str, list[pa.Check]]  # extra checks by column, beyond what the declaration says


def pandera_schema(min_rows: int = 1, rules: Rules | None = None) -> pa.DataFrameSchema:
    """The declared schema as a pandera DataFrameSchema (strict: no extra columns).

    `rules` adds project-specific checks to named columns (05_ct_data_pipeline's lab writes one).
    """
    rules = rules or {}
    unknown = sorted(set(rules) - set(schema.BY_NAME))
    if unknown:
        raise errors.BadInputError(
            f"rules name unknown column(s) {unknown}: use columns of the schema, {', '.join(schema.BY_NAME)}"
        )
    columns = {}
    for c in schema.COLUMNS:
        checks = list(rules.get(c.name, []))
        if c.min is not None or c.max is not None:
            low = c.min if c.min is not None else float("-inf")
            high = c.max if c.max is not None else float("inf")
            checks.append(pa.Check.in_range(low, high, error=f"outside the range [{low:g}, {high:g}]"))
        if c.nullable:
            checks.append(_null_share_check(c.max_null_fraction))
        columns[c.name] = pa.Column(c.dtype, checks, nullable=c.nullable, unique=c.name == schema.KEY)
    return pa.DataFrameSchema(
        columns,
        strict=True,
        checks=[pa.Check(lambda df: len(df) >= min_rows, name=f"at least {min_rows} row(s)")],
    )


@dataclass(frozen=True)
class Report:
    """What validation found: one row per failed check, empty when the batch is good."""

    failures: pd.DataFrame  # columns: check, column, detail

    @property
    def ok(self) -> bool:
        return self.failures.empty

    def __str__(self) -> str:
        if self.ok:
            return "the batch passed every schema check"
        lines = [
            f"- {r.check}: {r.column}" + (f" ({r.detail})" if r.detail else "") for r in self.failures.itertuples()
        ]
        return f"{len(lines)} schema check(s) failed:\n" + "\n".join(lines)


class BadBatchError(errors.BadInputError):
    """A batch broke the schema. It carries the report; nothing was written."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(
            f"the batch was rejected, {report}\n"
            "Fix the data at its source (or the declaration in mlops_workbook/example/schema.py "
            "if the data is right); nothing was written."
        )


def _example(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _describe(cases: pd.DataFrame, batch: pd.DataFrame) -> Report:
    check = cases["check"].astype(str).map(lambda name: _READABLE.get(name, name))
    check = check.where(~check.str.startswith("dtype("), "wrong dtype, expected " + check.str.slice(6, -1))
    # pandera names a missing/unexpected column in the failure case; table checks name none
    names_column = check.isin(["missing column", "unexpected column"])
    cases = cases.assign(
        check=check,
        column=cases["column"].where(~names_column, cases["failure_case"]).fillna("(whole batch)"),
    )
    # a column of the wrong type fails its other checks too; the type is the error to report
    mistyped = set(cases.loc[cases["check"].str.startswith("wrong dtype"), "column"])
    rows = []
    for (name, column), group in cases.groupby(["check", "column"], sort=False):
        if column in mistyped and not name.startswith("wrong dtype"):
            continue
        if group["index"].notna().any():
            examples = ", ".join(_example(v) for v in group["failure_case"].drop_duplicates().head(3))
            detail = f"{group['index'].nunique()} row(s), e.g. {examples}"
        elif name.startswith("wrong dtype"):
            detail = f"found {group['failure_case'].iloc[0]}"
        elif column == "(whole batch)":
            detail = f"the batch has {len(batch)} row(s)"
        elif name.endswith("nulls"):
            detail = f"{batch[column].isna().mean():.0%} are null"
        else:
            detail = ""
        rows.append({"check": name, "column": column, "detail": detail})
    return Report(pd.DataFrame(rows, columns=_REPORT_COLUMNS))


def validate(batch: pd.DataFrame, min_rows: int = 1, rules: Rules | None = None) -> Report:
    """Run every schema check on the batch (all of them, not just the first that fails)."""
    try:
        pandera_schema(min_rows, rules).validate(batch, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _describe(errors.failure_cases, batch)
    return Report(pd.DataFrame(columns=_REPORT_COLUMNS))


def require_valid(batch: pd.DataFrame, min_rows: int = 1, rules: Rules | None = None) -> pd.DataFrame:
    """Return the batch if it is valid; raise BadBatchError with the report otherwise."""
    report = validate(batch, min_rows, rules)
    if not report.ok:
        raise BadBatchError(report)
    return batch
