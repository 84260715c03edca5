"""A cohort's release: the course as it is taught to one class, fixed by a git tag, with what changed since the last.

`mlops-workbook release-course 2027.1` checks that the clone is committed and the tag is new, then builds, outside
the workbook: the site (`site/`), the nbgrader course with its released labs (`nbgrader/`, generate_assignment
run), and CHANGES.md (the lessons and labs changed since the previous cohort's tag, and each lab's points then and
now). Only when all of it is built does it tag HEAD `course-2027.1`: a failed build leaves no tag.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlops_workbook.core import commands, errors, paths
from mlops_workbook.course import labs, nbgrader_course, site

PREFIX = "course-"
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,40}$")
FOLDERS = ("notebooks", "labs")


def release(version: str, out: Path) -> Path:
    """Build the cohort's site, nbgrader course and CHANGES.md in `out`, then tag HEAD; CHANGES.md's path."""
    root = paths.project_root()
    tag = PREFIX + version
    if not VERSION.match(version) or _git(root, "check-ref-format", f"refs/tags/{tag}", check=False) is None:
        raise errors.BadInputError(f"{version!r} is not a version: letters, digits, '.', '_' and '-', e.g. 2027.1")
    out = Path(out).resolve()
    if out.is_relative_to(root):
        raise errors.BadInputError(
            f"{paths.show(out)} is inside the workbook; a cohort's nbgrader course holds learners' names: "
            "release it elsewhere, e.g. --out ~/courses/mlops-2027.1"
        )
    if out.exists() and any(out.iterdir()):
        raise errors.BadInputError(f"{out} is not empty: a cohort's release goes to a folder of its own")
    if _git(root, "tag", "--list", tag):
        raise errors.BadInputError(f"{tag} exists already: each cohort gets a new version")
    if _git(root, "status", "--porcelain"):
        raise errors.BadInputError("the clone has changes that are not committed: the tag must be what is built")
    if _git(root, "var", "GIT_COMMITTER_IDENT", check=False) is None:
        raise errors.BadInputError("git does not know who tags: `git config user.name` and `user.email` first")
    if labs.stale_labs():
        raise errors.BadInputError("labs/ is not what solutions/ generate: run `make labs` and commit")
    previous = _git(root, "describe", "--tags", "--abbrev=0", "--match", f"{PREFIX}*", "HEAD", check=False)

    building = out.with_name(f".{out.name}.building")  # moved into place only once whole: a retry finds no leftovers
    shutil.rmtree(building, ignore_errors=True)
    try:
        site.build(building / "site")
        nbgrader_course.write(building / "nbgrader")
        _nbgrader(building / "nbgrader", "generate_assignment", "--CourseDirectory.assignment_id=*")
        (building / "CHANGES.md").write_text(_changes(root, tag, previous))
        shutil.rmtree(out, ignore_errors=True)  # empty, as checked above
        building.rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _git(root, "tag", "-a", tag, "-m", f"the course as released to the cohort {version}")
    return out / "CHANGES.md"


def _changes(root: Path, tag: str, previous: str | None) -> str:
    today = datetime.date.today().isoformat()
    lines = [f"# {tag} ({today})", ""]
    if previous is None:
        lines += ["The first cohort's release: every lesson and lab is new.", ""]
        changed = [("A", f"{folder}/{nb.name}") for folder in FOLDERS for nb in sorted((root / folder).glob("*.ipynb"))]
    else:
        lines += [f"Since {previous}:", ""]
        listed = _git(root, "diff", "--name-status", previous, "HEAD", "--", *FOLDERS).splitlines()
        changed = [(line.split("\t")[0][0], line.split("\t")[-1]) for line in listed]
    kinds = {"A": "added", "D": "removed", "M": "changed", "R": "renamed"}
    lines += [f"- {path}: {kinds.get(kind, kind)}" for kind, path in changed] or ["- no lesson or lab changed"]
    lines += ["", "| lab | points before | points now |", "|---|---|---|"]
    for solution, _ in labs.lab_pairs():
        name = f"solutions/{solution.name}"
        before = _points(_git(root, "show", f"{previous}:{name}", check=False) or "") if previous else None
        now = _points(solution.read_text())
        lines.append(f"| {solution.stem} | {'-' if before is None else before} | {now} |")
    return "\n".join(lines) + "\n"


def _points(notebook: str) -> int | None:
    """A lab's points (its check cells' nbgrader points), from the notebook's JSON; None if it did not exist."""
    if not notebook:
        return None
    cells = json.loads(notebook)["cells"]
    return sum(c["metadata"]["nbgrader"]["points"] for c in cells if c["metadata"].get("nbgrader", {}).get("grade"))


def _nbgrader(course: Path, *args: str) -> None:
    """nbgrader from the workbook's environment, in the course folder (it runs `alembic` from PATH)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    commands.run([str(bin_dir / "nbgrader"), *args], f"nbgrader {args[0]}", cwd=course, env=env)


def _git(root: Path, *args: str, check: bool = True) -> str | None:
    """git's output; when it fails, an error (or None with `check=False`: the failure is the answer)."""
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode == 0:
        return done.stdout.strip()
    if check:
        raise errors.UnavailableError(f"git {args[0]} failed in {paths.show(root)}: {done.stderr.strip()}")
    return None
