"""The project's CI/CD definition, run as a CI server would: gitlab-ci-local on a one-commit copy of the work tree.

gitlab-ci-local runs what git tracks in the repository it starts in, with a shell executor (no `image:`): the
jobs run here, with this machine's Docker. The copy gives it this work tree, committed or not, on the main branch
(where CD runs) and with a runs/ folder of its own, so the jobs' deploy state never mixes with a notebook's; only
its process registry is this work tree's, so that `mlops-workbook stop` here stops what the jobs left serving
(nginx outlives a deploy command). The copy's git user is who starts a job (gitlab-ci-local's GITLAB_USER_LOGIN):
the approver of the manual prod job.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from mlops_workbook.cd.scheduling import pipelines
from mlops_workbook.core import commands, errors, paths, processes

DEFINITION = ".gitlab-ci.yml"
_COLOURED = ("FORCE_COLOR", "CLICOLOR_FORCE")  # what a notebook's kernel sets; the log is read as plain text
BRANCH = "main"
UV_VENV = ".uv"  # where the Makefile keeps uv (its UV)


class CIPipelineError(errors.RunError):
    """gitlab-ci-local could not read or run the definition; the message carries the end of its output."""


def commit(repo: Path, message: str) -> None:
    """Commit everything in `repo` (gitlab-ci-local runs only what git tracks)."""
    git = ["git", "-c", "user.name=workbook", "-c", "user.email=workbook@example.invalid"]
    commands.run([*git, "add", "-A"], "git add", cwd=repo)
    commands.run([*git, "commit", "-qm", message], "committing the work tree's copy", cwd=repo)


def project_copy(folder: Path, approver: str = "release-manager") -> Path:
    """This work tree as a fresh one-commit repository in `folder`, on the main branch, its user `approver`.

    The pipeline environments (`make pipelines`) and uv are linked in, not rebuilt: the jobs' `make pipelines` finds
    them up to date (it would otherwise reinstall this copy's package into them, and the copy is thrown away).
    """
    root = paths.project_root()
    listed = commands.run(["git", "ls-files", "-co", "--exclude-standard"], "listing the files", check=False, cwd=root)
    if listed.returncode != 0:
        raise errors.UnavailableError(
            f"{root} is not a git clone: gitlab-ci-local runs what git tracks. Clone the workbook."
        )
    folder = paths.fresh_dir(folder)
    for name in listed.stdout.splitlines():
        if (root / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, folder / name)
    for venv in (pipelines.AIRFLOW_VENV, pipelines.KFP_VENV, UV_VENV):
        if (root / venv).is_dir():
            (folder / venv).symlink_to(root / venv)
    for built_from in [folder / "pyproject.toml", *(folder / "requirements").glob("*.lock")]:
        os.utime(built_from, (0, 0))  # older than the linked environments: a job's `make pipelines` never reinstalls
    (folder / processes.REGISTRY).parent.mkdir(parents=True)
    (folder / processes.REGISTRY).symlink_to(paths.resolve(processes.REGISTRY), target_is_directory=True)
    commands.run(["git", "init", "-q", "-b", BRANCH], "git init", cwd=folder)
    commands.run(["git", "config", "user.email", f"{approver}@example.invalid"], "git config", cwd=folder)
    commit(folder, "the work tree")
    return folder


def with_job(repo: Path, name: str, definition: str) -> None:
    """Replace job `name` in the copy's definition with `definition` (YAML text of that one job), and commit.

    A lab's check runs a learner's job this way, in the project's real pipeline.
    """
    try:
        job = yaml.safe_load(definition)
    except yaml.YAMLError as error:
        raise errors.BadInputError(f"the job is not valid YAML: {error}") from None
    if not isinstance(job, dict) or list(job) != [name]:
        found = list(job) if isinstance(job, dict) else type(job).__name__
        raise errors.BadInputError(f"expected the YAML of one job, `{name}:` and its keys under it; found {found}")
    ci = yaml.safe_load((repo / DEFINITION).read_text())
    ci[name] = job[name]
    (repo / DEFINITION).write_text(yaml.safe_dump(ci, sort_keys=False))
    commit(repo, f"{name} rewritten")


def recording_venv(folder: Path) -> Path:
    """A stand-in for the workbook's environment (VENV) whose commands record their call in `calls.txt`, one per
    line, and do nothing else: a lab checks how a job calls the workbook in seconds, without deploying."""
    folder = paths.fresh_dir(folder)
    (folder / "bin").mkdir()
    for command in ("mlops-workbook", "pytest", "python"):
        script = folder / "bin" / command
        script.write_text(f'#!/bin/sh\necho "{command} $*" >> "{folder / "calls.txt"}"\n')
        script.chmod(0o755)
    return folder


def stop() -> list[str]:
    """Stop what the jobs left serving (nginx, containers): as `mlops-workbook stop`, all this instance runs."""
    from mlops_workbook.core.docker import containers, images

    return processes.stop_all() + containers.remove_containers(images.docker_client())


def _gitlab_ci_local(repo: Path, arguments: list[str], variables: dict, venv: Path | None, timeout: float):
    venv = venv or Path(sys.executable).parent.parent  # the jobs reuse this environment instead of installing
    flags = [f"--variable={key}={value}" for key, value in {"VENV": venv, **variables}.items()]
    return commands.run(
        ["gitlab-ci-local", *flags, *arguments],
        "gitlab-ci-local",
        check=False,
        cwd=repo,
        timeout=timeout,
        env={key: value for key, value in os.environ.items() if key not in _COLOURED},
    )


def jobs(repo: Path, variables: dict | None = None) -> pd.DataFrame:
    """The pipeline as GitLab would plan it for this commit: each job's stage, when it runs and whether its failure
    is allowed (a manual job that is not blocks the pipeline until someone starts it), in order."""
    done = _gitlab_ci_local(repo, ["--list-csv"], variables or {}, None, 120)
    if done.returncode != 0:
        raise CIPipelineError(f"gitlab-ci-local could not read {DEFINITION}", logs=(done.stdout + done.stderr)[-3000:])
    rows = [line.split(";") for line in done.stdout.splitlines() if line.count(";") >= 4]
    header, *body = rows
    table = pd.DataFrame(body, columns=header)
    table = table.rename(columns={"name": "job", "allowFailure": "allow_failure"}).set_index("job")
    return table[["stage", "when", "allow_failure"]]


@dataclass(frozen=True)
class Run:
    """One gitlab-ci-local run: each job that ran and whether it passed, in the order of the report, and its log."""

    results: dict[str, str]  # job: PASS or FAIL
    log: str

    @property
    def passed(self) -> bool:
        return all(result == "PASS" for result in self.results.values())

    def said(self, job: str) -> list[str]:
        """What a job printed (its own lines, without gitlab-ci-local's)."""
        prefix = re.compile(rf"^{re.escape(job)}\s+> (.*)$")
        return [m.group(1) for line in self.log.splitlines() if (m := prefix.match(line))]


def run(
    repo: Path, *job_names: str, variables: dict | None = None, venv: Path | None = None, timeout: float = 900
) -> Run:
    """Run the pipeline (every job that is not manual), or the jobs named: naming a manual job starts it."""
    done = _gitlab_ci_local(repo, list(job_names), variables or {}, venv, timeout)
    log = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # in case a terminal's colours came through
    results = {job: result for result, job in re.findall(r"^\s*(PASS|FAIL)\s+(\S+)\s*$", log, re.MULTILINE)}
    if not results or (done.returncode == 0) != all(r == "PASS" for r in results.values()):
        raise CIPipelineError("gitlab-ci-local ran no job, or its report does not say why it failed", logs=log[-3000:])
    return Run(results, log)
