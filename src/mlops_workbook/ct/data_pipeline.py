"""The data pipeline: ingest a partition → validate → build features → write a feature version.

Validation comes before any write, so a bad batch leaves the store as it was: the
previous version stays the current one. Versions are named by a hash of their content,
so re-running a partition on the same data finds the same version and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from mlops_workbook.core import errors, progress
from mlops_workbook.ct import features
from mlops_workbook.example import schema, validation


@dataclass(frozen=True)
class Manifest:
    """What a feature version holds and where it came from."""

    partition: str
    version: str
    rows: int
    source: str
    schema_hash: str
    data_hash: str


def schema_hash() -> str:
    """A fingerprint of the declared schema and the derived features: it changes when either does."""
    declaration = [asdict(c) for c in schema.COLUMNS] + sorted(features.DERIVED)
    return hashlib.sha256(json.dumps(declaration, sort_keys=True).encode()).hexdigest()[:12]


def data_hash(frame: pd.DataFrame) -> str:
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(row_hashes.tobytes() + ",".join(frame.columns).encode()).hexdigest()[:12]


class FeatureStore:
    """Feature versions on disk: `<root>/<partition>/<version>/{features.parquet, manifest.json}`.

    `<root>/<partition>/CURRENT` names the version that training reads.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def write(self, partition: str, table: pd.DataFrame, source: str) -> Manifest:
        manifest = Manifest(partition, "", len(table), source, schema_hash(), data_hash(table))
        manifest = Manifest(**{**asdict(manifest), "version": f"v-{manifest.data_hash}"})
        folder = self.root / partition / manifest.version
        if not folder.exists():  # same content, same version: nothing to write
            staging = folder.with_name(folder.name + ".writing")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            table.to_parquet(staging / "features.parquet", index=False)
            (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
            staging.rename(folder)
        (self.root / partition / "CURRENT").write_text(manifest.version)
        return manifest

    def partitions(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob("*/CURRENT"))

    def current(self, partition: str) -> Manifest | None:
        pointer = self.root / partition / "CURRENT"
        if not pointer.exists():
            return None
        return Manifest(**json.loads((pointer.parent / pointer.read_text() / "manifest.json").read_text()))

    def versions(self, partition: str) -> list[str]:
        return sorted(p.parent.name for p in (self.root / partition).glob("v-*/manifest.json"))

    def read(self, partitions: list[str] | None = None) -> pd.DataFrame:
        """The current version of each partition (all of them by default), concatenated."""
        chosen = partitions or self.partitions()
        missing = [p for p in chosen if self.current(p) is None]
        if missing:
            raise errors.UnavailableError(
                f"no features for partition(s) {', '.join(missing)}: run the data pipeline first"
            )
        return pd.concat(
            [pd.read_parquet(self.root / p / self.current(p).version / "features.parquet") for p in chosen],
            ignore_index=True,
        )

    def manifests(self, partitions: list[str] | None = None) -> pd.DataFrame:
        """The current version's manifest of each partition (all of them by default)."""
        return pd.DataFrame([asdict(self.current(p)) for p in partitions or self.partitions()])


def process(
    batch: pd.DataFrame,
    store: FeatureStore,
    partition: str,
    source: str,
    min_rows: int = 1,
    rules: validation.Rules | None = None,
) -> Manifest:
    """Validate one batch and store its features; a bad batch raises BadBatchError, writing nothing.

    Besides the schema, every row must belong to `partition` (a YYYY-MM-DD day): a batch of another day, or of
    something that is not a day, would otherwise be stored under the wrong date.
    """
    try:
        date.fromisoformat(partition)
        valid_day = len(partition) == len("YYYY-MM-DD")
    except (TypeError, ValueError):
        valid_day = False
    if not valid_day:
        raise errors.BadInputError(
            f"partition {partition!r}: expected the day it holds, written YYYY-MM-DD (2026-01-05)"
        )
    belongs = pa.Check.equal_to(partition, error=f"the partition being written, {partition}")
    rules = {**(rules or {}), schema.PARTITION: [*(rules or {}).get(schema.PARTITION, []), belongs]}
    validation.require_valid(batch, min_rows, rules)
    return store.write(partition, features.build(batch), source)


def run(
    source,
    store: FeatureStore,
    partitions: list[str] | None = None,
    min_rows: int = 1,
    rules: validation.Rules | None = None,
) -> list[Manifest]:
    """Process each partition of the source (all by default), with a progress bar."""
    chosen = partitions or source.partitions()
    return [
        process(source.read(p), store, p, source.kind, min_rows, rules)
        for p in progress.bar(chosen, desc="data pipeline", unit="partition")
    ]
