"""The CI/CD definitions: GitLab, Jenkins and GitHub run the same jobs, and the GitLab file really runs.

gitlab-ci-local executes .gitlab-ci.yml on a copy of the working tree (shell executor): green as it is, through
staging to prod once a person starts the manual prod job; red with a broken commit, which must fail at the
right job and only there; and red with an image whose bug only live traffic shows, which staging's canary must roll
back at its first step, so that it never reaches prod.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_workbook.cd.rollout import ci_pipeline
from mlops_workbook.ci import serving_image
from mlops_workbook.core import environments, http_client, instance, paths
from mlops_workbook.core.docker import images
from mlops_workbook.course import verification
from mlops_workbook.ct import steps

ROOT = paths.project_root()
GITLAB_KEYWORDS = {"stages", "variables", "default", "workflow", "include", "image", "services", "cache"}


def gitlab_jobs() -> dict[str, tuple[str, list[str]]]:
    """{job: (stage, commands)}, with the default before_script in front of each job's script."""
    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    before = ci.get("default", {}).get("before_script", [])
    return {
        name: (job["stage"], before + job["script"])
        for name, job in ci.items()
        if name not in GITLAB_KEYWORDS and not name.startswith(".")
    }


def github_jobs() -> dict[str, tuple[str, list[str]]]:
    """{job: (stage, commands)}: a job's stage is GitLab's stage at its depth in the `needs` graph."""
    flow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    stages = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())["stages"]
    jobs = flow["jobs"]

    def depth(name: str) -> int:
        needs = jobs[name].get("needs", [])
        return 1 + max(map(depth, [needs] if isinstance(needs, str) else needs)) if needs else 0

    def commands(job: dict) -> list[str]:  # without the step that asks GitHub who approved (GitHub's own way)
        return [step["run"] for step in job["steps"] if "run" in step and step.get("id") != "approver"]

    return {name: (stages[depth(name)], commands(job)) for name, job in jobs.items()}


def jenkins_jobs() -> dict[str, tuple[str, list[str]]]:
    """{job: (stage, commands)}: each top-level stage holds its jobs in a `parallel` block."""
    text = (ROOT / "Jenkinsfile").read_text()
    jobs, stage, job = {}, None, None
    for match in re.finditer(r"stage\('([^']+)'\)\s*\{(\s*parallel)?|sh '(.*)'", text):
        name, is_stage, command = match.groups()
        if is_stage:
            stage = name
        elif name:
            job = name
            jobs[job] = (stage, [])
        else:
            jobs[job][1].append(command)
    return jobs


def test_gitlab_jenkins_and_github_run_the_same_jobs():
    gitlab = gitlab_jobs()
    assert gitlab, "no jobs found in .gitlab-ci.yml"
    assert jenkins_jobs() == gitlab, "Jenkinsfile is out of step with .gitlab-ci.yml"
    assert github_jobs() == gitlab, ".github/workflows/ci.yml is out of step with .gitlab-ci.yml"


def test_every_definition_sets_the_same_environment():
    gitlab = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())["variables"]
    github = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["env"]
    jenkins = dict(re.findall(r"(\w+) = [\"']([^\"']+)[\"']", (ROOT / "Jenkinsfile").read_text()))
    assert gitlab["VENV"] == github["VENV"] == jenkins["VENV"]
    assert all(env["PYTHONPATH"].endswith("/src") for env in (gitlab, github, jenkins))
    assert all("MLFLOW_TRACKING_URI" in env for env in (gitlab, github, jenkins)), "where CI takes CT's champion from"
    prod_mode = environments.load("prod").release_mode
    assert gitlab["PROD_RELEASE_MODE"] == github["PROD_RELEASE_MODE"] == jenkins["PROD_RELEASE_MODE"] == prod_mode, (
        f"configs/prod.yaml says release_mode: {prod_mode}: set PROD_RELEASE_MODE to it in every CI definition"
    )


def test_github_and_jenkins_gate_prod_their_own_way():
    github = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]
    assert github["deploy-prod"]["environment"] == "prod" and github["deploy-staging"]["environment"] == "staging"
    assert "Required reviewers" in (ROOT / ".github/workflows/ci.yml").read_text()
    assert any(step.get("id") == "approver" for step in github["deploy-prod"]["steps"])
    jenkins = (ROOT / "Jenkinsfile").read_text()
    assert re.search(r"env\.APPROVER = env\.PROD_RELEASE_MODE == 'delivery' \? input\(", jenkins)
    assert "submitterParameter: 'approver'" in jenkins


APPROVER = "release-manager"  # the copy's git user: gitlab-ci-local's GITLAB_USER_LOGIN, who starts jobs


def run_pipeline(repo: Path, *jobs: str, **variables: str) -> tuple[dict[str, str], str]:
    done = ci_pipeline.run(repo, *jobs, variables=variables)
    return done.results, done.log


def break_file(repo: Path, name: str, old: str, new: str) -> None:
    path = repo / name
    text = path.read_text()
    assert old in text, f"{name} no longer contains {old!r}: update this test's breakage"
    path.write_text(text.replace(old, new))
    ci_pipeline.commit(repo, f"break {name}")


# What a test running the pipeline on a repository copy needs (the `repo` fixture): the CI tool, its copy, images.
runs_the_pipeline = pytest.mark.component("gitlab-ci-local", "rsync", "docker")


@pytest.fixture
def repo(tmp_path):
    folder = ci_pipeline.project_copy(tmp_path / "project", APPROVER)
    yield folder
    ci_pipeline.stop()


@pytest.mark.component("airflow", "kfp")
def test_the_copys_make_pipelines_finds_the_linked_environments_up_to_date(tmp_path):
    """A reinstall there would point the shared environments at the throwaway copy's code (04's DAG run then wrote
    into 03's copy)."""
    folder = ci_pipeline.project_copy(tmp_path / "project", APPROVER)
    assert subprocess.run(["make", "-q", "pipelines"], cwd=folder).returncode == 0, "make pipelines would reinstall"


def passing_test_stage() -> dict[str, str]:
    return {job: "PASS" for job, (stage, _) in gitlab_jobs().items() if stage == "test"}


def history(repo: Path, env: str) -> list[dict]:
    """An environment's deploy history, as the jobs recorded it in the copy."""
    path = repo / "runs" / "environments" / str(instance.number()) / env / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def served_version(env: str) -> str:
    return http_client.call(environments.load(env).serve_port, "/version")["version"]


def image_that_fails_a_third(good: str) -> str:
    """CI's image with a bug that fails 30% of /predict with a 500 (cd/serving/faults): healthy, and it passes the
    smoke test's few requests, as a subtle bug would; only the canary's analysis of real traffic sees it."""
    tag = f"{serving_image.IMAGE}:broken{instance.suffix()}"
    recipe = f"FROM {good}\nENV SERVING_FAULTS=error_rate=0.3\n".encode()
    images.docker_client().images.build(fileobj=io.BytesIO(recipe), tag=tag, pull=False, rm=True)
    return tag


@runs_the_pipeline
def test_a_commit_goes_to_staging_then_to_prod_when_a_person_starts_the_job_and_a_failing_canary_stops_at_staging(
    repo,
):
    # CT, not this pipeline, trains: the staging CT pipeline's steps register and gate the champion CI packages, in
    # a registry the package job is pointed at as at a team's tracking server (MLFLOW_TRACKING_URI)
    overrides = {"workspace": str(repo / "runs" / "staging"), "n_partitions": 3, "servers": "embedded"}
    staging = environments.load("staging", overrides)
    ct_folder = steps.environment_folder(staging)
    champion = steps.run_all(staging.params(), str(ct_folder))["register"]
    assert champion["promoted"], champion
    registry = f"sqlite:///{ct_folder / 'mlflow.db'}"
    # the unit-tests job runs a part of the unit tests: the suite runs them all itself, and what is tested here is
    # the job, not the tests (the red paths below run the part with the broken test)
    outcomes, log = run_pipeline(repo, PYTEST_ADDOPTS="-k triggers", MLFLOW_TRACKING_URI=registry)
    delivered = {job: "PASS" for job in gitlab_jobs() if job != "deploy-prod"}
    assert outcomes == delivered, log[-3000:]  # Continuous Delivery: prod waits for a person
    assert "reproducible: 254 held-out predictions match" in log
    assert f"ride-completion version {champion['version']}: healthy, smoke test passed" in log  # CT's, packaged
    assert "Airflow DAG ct_pipeline_staging (prepare_features → train → evaluate → register" in log
    (staged,) = history(repo, "staging")
    assert staged["outcome"] == "live" and served_version("staging") == staged["version"]
    assert history(repo, "prod") == []

    outcomes, log = run_pipeline(repo, "deploy-prod")  # a person starts the manual job
    assert outcomes == {"deploy-prod": "PASS"}, log[-3000:]
    (shipped,) = history(repo, "prod")
    assert shipped["image"] == staged["image"] and shipped["approved_by"] == APPROVER
    assert served_version("prod") == staged["version"]
    assert (repo / "runs" / "prod" / "pipelines" / "deployed" / "dags" / "ct_pipeline_prod.py").exists()

    # the next commit's image goes to staging by canary, as the job says: its first step's analysis rolls it back
    broken = image_that_fails_a_third(staged["image"])
    outcomes, log = run_pipeline(repo, "deploy-staging", "deploy-prod", IMAGE_TAG=broken)
    assert outcomes == {"deploy-staging": "FAIL"}, log[-3000:]  # prod's job never started
    first = environments.load("staging").rollout.steps[0]
    assert re.search(rf"rolled back at canary {first}%: .*success rate", log), log[-3000:]
    assert history(repo, "staging")[-1]["outcome"] == "rejected" and len(history(repo, "prod")) == 1
    assert served_version("staging") == served_version("prod") == staged["version"]
    assert [e["image"] for e in history(repo, "staging") if e["outcome"] == "live"] == [staged["image"]]


@pytest.mark.component("gitlab-ci-local")
def test_prod_is_a_manual_job_only_under_continuous_delivery_and_nothing_deploys_off_the_main_branch(tmp_path):
    shutil.copy(ROOT / ".gitlab-ci.yml", tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    ci_pipeline.commit(tmp_path, "the CI definition")
    planned = ci_pipeline.jobs(tmp_path)
    assert planned.loc["deploy-prod", "when"] == "manual" and planned.loc["deploy-staging", "when"] == "on_success"
    assert list(planned["stage"].unique()) == ["test", "package", "staging", "prod"]
    automatic = ci_pipeline.jobs(tmp_path, {"PROD_RELEASE_MODE": "deployment"})
    assert automatic.loc["deploy-prod", "when"] == "on_success"
    subprocess.run(["git", "checkout", "-qb", "a-feature"], cwd=tmp_path, check=True)
    ci_only = [job for job, (stage, _) in gitlab_jobs().items() if stage in ("test", "package")]
    assert sorted(ci_only) == sorted(ci_pipeline.jobs(tmp_path).index)


BROKEN_COMMITS = {
    "a failing unit test": (
        "src/mlops_workbook/ct/triggers.py",
        ").days >= every_days",
        ").days > every_days",
        "unit-tests",
        "test_schedule",
    ),
    "a reproducibility mismatch": (
        "src/mlops_workbook/ct/training.py",
        "C: float = 1.0, inputs",
        "C: float = 0.5, inputs",
        "reproducibility",
        "error: predictions differ from the reference",
    ),
}


@runs_the_pipeline
def test_a_broken_commit_fails_the_jobs_it_breaks_and_is_not_packaged(repo):
    """Both breakages in one commit: the test stage runs all its jobs, the two jobs they break fail, each saying
    why in its own log, the others pass, and no package stage runs."""
    for name, old, new, _, _ in BROKEN_COMMITS.values():
        break_file(repo, name, old, new)
    done = ci_pipeline.run(repo, variables={"PYTEST_ADDOPTS": "-k triggers"})  # the broken test is a trigger test
    failing = {job: "FAIL" for _, _, _, job, _ in BROKEN_COMMITS.values()}
    assert done.results == {**passing_test_stage(), **failing}, done.log[-3000:]
    for _, _, _, job, said in BROKEN_COMMITS.values():
        assert any(said in line for line in done.said(job)), f"{job} did not say {said!r}:\n{done.log[-3000:]}"


def test_the_course_ci_runs_every_environment_then_the_suite_on_gitlab_and_github():
    gitlab = yaml.safe_load((ROOT / ".gitlab" / "workbook.gitlab-ci.yml").read_text())
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "workbook.yml").read_text())["jobs"]
    environments = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert sorted(gitlab["workbook"]["parallel"]["matrix"][0]["ENV"]) == environments
    assert sorted(github["workbook"]["strategy"]["matrix"]["ENV"]) == environments
    assert gitlab["workbook"]["script"] == ["make run ENV=$ENV"]
    assert [s["run"] for s in github["workbook"]["steps"] if "run" in s] == [
        "sudo bash .ci/components",
        "make run ENV=${{ matrix.ENV }}",
    ]
    assert (
        gitlab["test-suite"]["script"]
        == ["make test", "make test-grading"]
        == [s["run"] for s in github["test-suite"]["steps"] if "run" in s and "components" not in s["run"]]
    )
    assert github["test-suite"]["needs"] == "workbook" and gitlab["stages"].index("notebooks") == 0


def test_the_course_ci_grades_a_class_in_shards_and_merges_one_report_on_gitlab_and_github():
    gitlab = yaml.safe_load((ROOT / ".gitlab" / "workbook.gitlab-ci.yml").read_text())
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "workbook.yml").read_text())["jobs"]
    shards = gitlab["grade"]["parallel"]
    assert github["grade"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    check = "mlops-workbook check submissions/ --shard"
    assert any(check in line and "$CI_NODE_INDEX/$CI_NODE_TOTAL" in line for line in gitlab["grade"]["script"])
    assert any(
        check in s.get("run", "") and f"{{{{ matrix.shard }}}}/{shards}" in s["run"] for s in github["grade"]["steps"]
    )
    merge = "mlops-workbook merge class-report-*.csv --report class-report.csv"
    assert any(merge in line for line in gitlab["class-report"]["script"])
    assert any(merge in s.get("run", "") for s in github["class-report"]["steps"])
    assert github["class-report"]["needs"] == "grade"


def test_the_course_ci_publishes_the_site_after_the_suite_on_gitlab_and_github():
    gitlab = yaml.safe_load((ROOT / ".gitlab" / "workbook.gitlab-ci.yml").read_text())
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "workbook.yml").read_text())["jobs"]
    assert gitlab["stages"].index("publish") == gitlab["stages"].index("suite") + 1
    assert gitlab["pages"]["stage"] == "publish" and gitlab["pages"]["artifacts"]["paths"] == ["public"]
    assert gitlab["test-suite"]["artifacts"]["paths"] == ["runs/artifacts/"]  # the record the stamps read
    steps = github["site"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert gitlab["pages"]["script"] == runs == ["make site OUT=public"]
    assert github["site"]["needs"] == "test-suite" and "default_branch" in github["site"]["if"]
    uploaded = next(s for s in github["test-suite"]["steps"] if "upload-artifact" in s.get("uses", ""))
    downloaded = next(s for s in steps if "download-artifact" in s.get("uses", ""))
    assert uploaded["with"]["name"] == downloaded["with"]["name"] and downloaded["with"]["path"] == "runs/artifacts/"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)


def test_the_early_warning_lane_runs_on_the_schedule_only_and_never_blocks_on_gitlab_and_github():
    gitlab = yaml.safe_load((ROOT / ".gitlab" / "workbook.gitlab-ci.yml").read_text())["latest"]
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "workbook.yml").read_text())["jobs"]["latest"]
    assert gitlab["script"] == [s["run"] for s in github["steps"] if "run" in s] == ["make latest"]
    assert gitlab["allow_failure"] is True and github["continue-on-error"] is True
    assert gitlab["rules"][-1] == {"if": '$CI_PIPELINE_SOURCE == "schedule"'}
    assert github["if"] == "${{ github.event_name == 'schedule' }}"
    uploaded = next(s for s in github["steps"] if "upload-artifact" in s.get("uses", ""))
    assert gitlab["artifacts"]["paths"] == [uploaded["with"]["path"]] == ["runs/latest/report.md"]


@pytest.mark.component("gitlab-ci-local")
def test_gitlab_ci_local_builds_the_course_site_with_the_suites_record_in_the_pages_job(tmp_path):
    """The `pages` job as GitLab runs it, on a copy holding the record the suite job leaves as its artifact."""
    project = ci_pipeline.project_copy(tmp_path / "project")
    verification.record({"notebooks/05_ct_data_pipeline.ipynb": True}, verification.snapshot(project), project)
    done = subprocess.run(
        ["gitlab-ci-local", "--file", ".gitlab/workbook.gitlab-ci.yml", f"--variable=VENV={sys.prefix}", "pages"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and re.search(r"PASS\s+pages", done.stdout), done.stdout[-3000:] + done.stderr
    page = (project / "public" / "lessons" / "05_ct_data_pipeline.html").read_text()
    assert "Verified:" in page and verification.load(project)["notebooks/05_ct_data_pipeline.ipynb"].commit[:10] in page
    assert "Not checked:" in (project / "public" / "lessons" / "06_ct_training_pipeline.html").read_text()
    assert not (project / "public" / "solutions").exists()


@pytest.mark.component("gitlab-ci-local")
def test_gitlab_ci_local_reads_the_course_ci_as_one_job_per_environment_or_the_grading_jobs(tmp_path):
    shutil.copy(ROOT / ".gitlab" / "workbook.gitlab-ci.yml", tmp_path)  # its state folder goes there, not in the repo

    def listed(*variables: str) -> str:
        done = subprocess.run(
            ["gitlab-ci-local", "--file", "workbook.gitlab-ci.yml", "--list", *variables],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    jobs = re.compile(r"^(workbook: \[\w+\]|test-suite|grade: \[\d/\d\]|class-report)\s", re.MULTILINE)
    assert jobs.findall(listed()) == ["workbook: [dev]", "workbook: [staging]", "workbook: [prod]", "test-suite"]
    assert jobs.findall(listed("--variable", "GRADE=1")) == [f"grade: [{i}/4]" for i in range(1, 5)] + ["class-report"]
