"""`mlops-workbook`: one command for learners, instructors and CI.

Every subcommand validates its input before doing any work. Whatever the workbook raises on purpose
(errors.WorkbookError) is reported in one place, `Commands.invoke`: one clear message (what is wrong, how to
fix it) and the error's exit code (2: the input was wrong and nothing was done; 3: something it needs is missing
or unhealthy; 1: the work failed).
A command imports its heavy modules (papermill, nbgrader, MLflow) itself, so that every other command, such as
a CI job's `deploy`, starts in a second.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from typer.core import TyperGroup

from mlops_workbook.core import environments, errors, paths
from mlops_workbook.course import envcheck, verdicts

console = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)  # [a-z] is no markup
    raise typer.Exit(code)


class Commands(TyperGroup):
    """Every command (and the `ci` group's) runs through here: a WorkbookError becomes its message and code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except errors.WorkbookError as error:
            _fail(str(error), error.exit_code)


app = typer.Typer(
    cls=Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Run, check and maintain the MLOps automation workbook.",
)
Env = Annotated[str, typer.Option("--env", "-e", help="dev, staging or prod (configs/<env>.yaml)")]
Only = Annotated[list[str] | None, typer.Option("--only", help="a notebook number or name; repeat for more")]


Params = Annotated[list[str] | None, typer.Option("--param", "-p", help="override: key=value")]


def _config(env: str, param: list[str] | None) -> environments.EnvConfig:
    """The environment's validated parameters (a ConfigError, before any work, if they are not)."""
    return environments.load(env, environments.parse_overrides(param or []))


@app.command()
def run(
    env: Env = "dev",
    only: Only = None,
    param: Params = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help=(
                "notebooks run side by side, each in an instance of its own (ports moved by 1000s); "
                "1: one after another, on the ports the lessons print"
            ),
        ),
    ] = 5,  # the five that wait most (on Docker, servers, alerts) start at once: 2 cores stay busy (bench/)
) -> None:
    """Execute the lessons with papermill into the environment's workspace."""
    from mlops_workbook.core.docker import images
    from mlops_workbook.course import runner, team_servers

    cfg = _config(env, param)
    todo = runner.notebooks("notebooks", only)
    images.prune_finished_runs()  # what earlier runs' rebuilds left: the disk stays flat across runs
    if not team_servers.needed(cfg, todo):
        runner.run(cfg, todo, console, jobs)
        return
    with team_servers.ready(cfg, functools.partial(console.print, soft_wrap=True)):
        runner.run(cfg, todo, console, jobs, last=team_servers.running_ct(todo))


@app.command("config")
def show_config(env: Env = "dev") -> None:
    """Validate an environment's parameters and print them."""
    cfg = environments.load(env)
    table = Table("key", "value", title=f"configs/{env}.yaml (valid)")
    for key, value in cfg.params().items():
        table.add_row(key, repr(value))
    console.print(table)


_COLOURS = {verdicts.PASSED: "green", verdicts.UNSOLVED: "yellow"}


def _shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    index, _, total = value.partition("/")
    if not (index.isdigit() and total.isdigit()):
        raise errors.BadInputError(f"--shard {value}: expected i/n, e.g. --shard 1/4 (the first of four shards)")
    return int(index), int(total)


@app.command()
def check(
    lab: Annotated[
        list[Path],
        typer.Argument(
            help="lab notebook(s), or a folder of submissions (<learner>/<lab>.ipynb) for a class report", exists=True
        ),
    ],
    timeout: Annotated[
        int, typer.Option(help="seconds an answer or check cell may run before it counts as hanging", min=1)
    ] = 120,
    report: Annotated[Path, typer.Option(help="where a folder's class report is written (CSV)")] = Path(
        "class-report.csv"
    ),
    jobs: Annotated[
        int | None, typer.Option(help="submissions checked side by side (default: one per core)", min=1)
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(help="check only shard i of n of a class (i/n), e.g. one CI job of a parallel set; see merge"),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            help=(
                "a folder's submissions each run in a throwaway container (no network, read-only but their own "
                "workspace, limits); --no-sandbox only on a throwaway machine"
            )
        ),
    ] = True,
) -> None:
    """Execute labs and say, per exercise, passed / not yet solved / wrong / tampered (a folder: the class report)."""
    from mlops_workbook.course import grading

    all_passed = True
    for path in lab:
        if path.is_dir():
            results = grading.class_report(path, timeout, jobs, _shard(shard), contained=sandbox)
            results.to_csv(report, index=False)
            _print_class_report(results, f"class report: {path}" + (f" (shard {shard})" if shard else ""), report)
            continue
        outcomes = grading.check(path, timeout)
        table = Table("exercise", "result", "hint", title=str(path))
        for o in outcomes:
            table.add_row(o.exercise, f"[{_COLOURS.get(o.status, 'red')}]{o.status}[/]", o.hint)
            all_passed &= o.status == verdicts.PASSED
        console.print(table)
    raise typer.Exit(0 if all_passed else 1)


@app.command()
def merge(
    reports: Annotated[list[Path], typer.Argument(help="the class reports the shards wrote (CSV)")],
    report: Annotated[Path, typer.Option(help="where the merged class report is written (CSV)")] = Path(
        "class-report.csv"
    ),
) -> None:
    """Merge the class reports of `check --shard i/n` runs into one, as a single run would have written it."""
    from mlops_workbook.course import grading

    results = grading.merge(reports)
    results.to_csv(report, index=False)
    _print_class_report(results, f"class report: {len(reports)} shards merged", report)


@app.command()
def gradebook(
    source: Annotated[
        Path, typer.Argument(help="a class report (`check`'s or `merge`'s .csv) or nbgrader's gradebook.db")
    ],
    out: Annotated[Path, typer.Option(help="where the LMS import file is written (CSV)")] = Path("gradebook.csv"),
) -> None:
    """The class's points as an LMS imports them (Canvas's gradebook CSV, mapped by Moodle's CSV import too)."""
    from mlops_workbook.course import gradebook as lms

    table, possible = lms.read(source)
    lms.write(table, possible, out)
    console.print(f"{len(table)} learners, {table.notna().sum().sum()} graded labs: {out}", soft_wrap=True)


def _print_class_report(results, title: str, report: Path) -> None:
    """One row per learner, one column per lab exercise; the CSV keeps every hint too."""
    results = results.assign(column=results["lab"].str[:2] + " " + results["exercise"])
    grid = results.pivot_table(index="learner", columns="column", values="result", aggfunc="first", fill_value="-")
    table = Table("learner", *grid.columns, "passed", title=title)
    for learner, row in grid.iterrows():
        passed = (row == verdicts.PASSED).sum()
        table.add_row(learner, *(f"[{_COLOURS.get(r, 'red')}]{r}[/]" for r in row), f"{passed}/{len(row)}")
    console.print(table)
    console.print(f"every result with its hint: {report}", soft_wrap=True)


@app.command("labs")
def make_labs(
    verify: Annotated[bool, typer.Option("--check", help="only report labs out of sync; exit 1 if any")] = False,
) -> None:
    """Regenerate labs/ from solutions/ (never edit a lab by hand)."""
    from mlops_workbook.course import labs

    if verify:
        stale = labs.stale_labs()
        if stale:
            _fail("out of sync with solutions/: " + ", ".join(stale) + ". Run `make labs`.", code=1)
        console.print("labs/ matches solutions/")
        return
    for path in labs.write_labs():
        console.print(f"wrote {path.parent.name}/{path.name}")


@app.command("course")
def make_course(
    folder: Annotated[Path, typer.Argument(help="the nbgrader course folder to write (outside the workbook)")],
    timeout: Annotated[int, typer.Option(help="seconds a cell may run when nbgrader autogrades")] = 300,
) -> None:
    """An nbgrader course with solutions/ as its source; then nbgrader generate_assignment and autograde."""
    from mlops_workbook.course import nbgrader_course

    written = nbgrader_course.write(folder, timeout)
    console.print(f"wrote {len(written)} assignments to {folder}/source and {folder}/nbgrader_config.py; next:")
    console.print(f"cd {folder} && nbgrader generate_assignment --CourseDirectory.assignment_id='*'", soft_wrap=True)


@app.command()
def refresh(only: Only = None) -> None:
    """Re-execute notebooks/ and solutions/ in place with dev defaults (refresh stored outputs)."""
    from mlops_workbook.course import runner

    for path in runner.refresh(only):
        console.print(f"refreshed {path.parent.name}/{path.name}")


@app.command()
def site(
    out: Annotated[Path, typer.Option(help="the folder to write the site to (GitLab Pages publishes public/)")] = Path(
        "runs/site"
    ),
    solutions: Annotated[bool, typer.Option("--solutions", help="add the solved labs (an instructors' site)")] = False,
) -> None:
    """The course as a static website from the stored notebooks, executing nothing; each page says when it was
    checked (the record `make test` leaves in runs/artifacts/verified.json)."""
    from mlops_workbook.course import site as course_site

    course_site.build(paths.resolve(out), solutions)
    console.print(f"the site is in {out}/: open {out}/index.html in a browser", soft_wrap=True)


@app.command("release-course")
def release_course(
    version: Annotated[str, typer.Argument(help="the cohort's version, e.g. 2027.1: the tag is course-<version>")],
    out: Annotated[
        Path | None, typer.Option(help="where the release is built, outside the workbook (~/courses/mlops-<version>)")
    ] = None,
) -> None:
    """Tag the course for a cohort and build, for that tag, its site, its nbgrader course and what changed since
    the last cohort (CHANGES.md)."""
    from mlops_workbook.course import cohort

    changes = cohort.release(version, out or Path.home() / "courses" / f"mlops-{version}")
    console.print(changes.read_text(), soft_wrap=True, highlight=False)
    console.print(
        f"tagged {cohort.PREFIX}{version}; the site, the nbgrader course and CHANGES.md are in {changes.parent}/"
    )


@app.command()
def doctor() -> None:
    """Library versions, and which real components (Docker, Prometheus, ...) this machine has."""
    console.print(envcheck.versions().to_string())
    console.print(envcheck.components().to_string())


@app.command()
def lab(
    port: Annotated[int | None, typer.Option(help="where to serve (default: 8050, moved by the instance)")] = None,
    browser: Annotated[bool, typer.Option(help="open a browser tab (--no-browser in a container or over ssh)")] = True,
) -> None:
    """JupyterLab on the repository, with the workbook's kernel registered; root allowed, as in a container."""
    import os
    import sys

    from mlops_workbook.core import instance
    from mlops_workbook.course import runner

    kernel_name = runner.ensure_kernel()
    runner.quiet_jupyterlab()
    command = [
        sys.executable, "-m", "jupyterlab", f"--notebook-dir={paths.project_root()}", "--ip=127.0.0.1",
        f"--port={port or instance.port(instance.JUPYTER_PORT)}", "--port-retries=0",
        f"--MultiKernelManager.default_kernel_name={kernel_name}",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # root in a container or a CI job: Jupyter refuses it
        *([] if browser else ["--no-browser"]),
    ]  # fmt: skip
    os.execv(sys.executable, command)  # JupyterLab takes over this process: Ctrl+C stops it as usual


@app.command()
def kernel() -> None:
    """Register this environment as the `mlops-workbook` Jupyter kernel."""
    from mlops_workbook.course import runner

    console.print(f"kernel '{runner.ensure_kernel()}' points at this environment")


@app.command()
def stop() -> None:
    """Stop everything the workbook started here (app copies, nginx, Prometheus, Alertmanager, containers) and
    remove the images its rebuilds left: after a lesson was interrupted, or its kernel died."""
    from mlops_workbook.cd.rollout import deploy
    from mlops_workbook.core import instance, processes
    from mlops_workbook.core.docker import containers, images

    docker = envcheck.component_status("docker")[0]
    stopped, visited = [], []
    instances = sorted({instance.number(), *instance.unclaimed()})  # its own, and what finished runs left
    for k in instances:
        with instance.using(k):
            found = processes.stop_all() + (containers.remove_containers(images.docker_client()) if docker else [])
            deploy.forget_live_copies()
        stopped += found
        visited += [str(k)] if found or k == instance.number() else []
    freed = images.prune(images.docker_client(), instances) if docker else 0.0  # their rebuilds' old images
    console.print(
        f"stopped {len(stopped)} ({', '.join(stopped) or 'nothing was running'}) in instance "
        f"{', '.join(visited)} (0 is JupyterLab's; a run's side-by-side notebooks take 1 up); "
        f"{freed:.0f} MB of old images removed",
        soft_wrap=True,
    )


def _team(env: str, param: list[str] | None):
    from mlops_workbook.cd.team.stack import TeamStack

    if env == "dev":
        raise errors.BadInputError("dev runs with embedded defaults and no servers: use --env staging or --env prod")
    return TeamStack(_config(env, param))


@app.command()
def up(env: Env = "staging", param: Params = None) -> None:
    """Start the environment's team stack: PostgreSQL, the MLflow tracking server on it, Airflow's scheduler,
    DAG processor and API server on it; returns once each is healthy (its data stays for the next `up`)."""
    from mlops_workbook.core import processes

    stack = _team(env, param)
    with processes.detached():  # the servers run on after this command ends, until `down` or `stop`
        seconds = stack.up()
    _print_team(stack, f"{env}: team stack up in {seconds:.0f} s (MLflow: {stack.tracking_uri})")


@app.command()
def status(env: Env = "staging", param: Params = None) -> None:
    """Show each server of the environment's team stack: its address, whether it is healthy, its pid."""
    stack = _team(env, param)
    rows = stack.status()
    _print_team(stack, f"{env}: {sum(row.healthy for row in rows)} of {len(rows)} healthy", rows)
    if not all(row.healthy for row in rows):
        raise typer.Exit(3)


@app.command()
def down(env: Env = "staging", param: Params = None) -> None:
    """Stop the environment's team stack (PostgreSQL last); its data stays in the workspace for the next `up`."""
    stack = _team(env, param)
    stopped = stack.down()
    console.print(f"{env}: stopped {', '.join(stopped) or 'nothing (it was not running)'}", soft_wrap=True)


@app.command("class-registry")
def class_registry(env: Env = "staging", param: Params = None) -> None:
    """Every learner's champion on a class's tracking server (each learner sets `learner`), in one table: its
    version, held-out ROC AUC and accuracy, the data it learned from, when it was registered. Reads only."""
    from mlops_workbook.course import class_registry as class_

    uri = class_.server_of(_config(env, param))
    found = class_.champions(uri)
    shown = re.sub(r"//[^/@]*@", "//", uri)  # no user or password in a log
    table = Table(*found.columns, title=f"champions on {shown}: {len(found)} models", title_justify="left")
    for row in found.astype(object).where(found.notna(), "-").itertuples(index=False):
        table.add_row(*(f"{value:.3f}" if isinstance(value, float) else str(value) for value in row))
    whole = Measurement.get(console, console.options.update_width(1000), table).maximum
    Console(width=max(console.width, whole)).print(table)  # every column in full, in a narrow terminal or a CI log


def _print_team(stack, title: str, rows=None) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("server", "address", "healthy", "pid"):
        table.add_column(column)
    for row in rows or stack.status():
        table.add_row(row.name, row.address, "yes" if row.healthy else "[red]no[/]", str(row.pid or "-"))
    console.print(table)


class Strategy(StrEnum):  # strategies.STRATEGIES, named here so that the command starts without them
    blue_green = "blue-green"
    canary = "canary"
    shadow = "shadow"


@app.command("deploy")
def deploy_image(
    env: Env = "staging",
    image: Annotated[str, typer.Option(help="the image CI built (name:tag)")] = "ride-completion:latest",
    approved_by: Annotated[str | None, typer.Option(help="who approves this prod release (delivery mode)")] = None,
    strategy: Annotated[
        Strategy,
        typer.Option(
            help="blue-green: all traffic once healthy; canary: growing shares, each judged in Prometheus "
            "(the config's rollout); shadow: a copy of live traffic, users see only the live version's answers"
        ),
    ] = Strategy.blue_green,
    load_test: Annotated[
        bool,
        typer.Option(
            "--load-test",
            help="synthetic users during a canary's or a shadow's analysis, for an environment with none of its own",
        ),
    ] = False,
    param: Params = None,
) -> None:
    """Deploy CI's image to staging or prod, health-gated; prod needs it live in staging, and under delivery an
    approval (a canary beside a live version without one waits at its last step for `mlops-workbook approve`)."""
    from mlops_workbook.cd.rollout import progressive, release, strategies

    cfg = _config(env, param)
    canary = strategy is Strategy.canary
    # a canary may wait for a person when none is named; one named empty (a CI job that found no approval) may not
    waits = canary and approved_by is None
    cleared = release.clear_image(cfg, image, approved_by, _config("staging", param), canary=waits)
    judged = canary and cleared.deployment.live() is not None  # its outcome tags the version
    client = _registry_holding(_config("staging", param), cleared.release.version) if judged else None
    say = functools.partial(console.print, soft_wrap=True)
    event = strategies.ship(cleared, strategy, cleared.mode, cfg.rollout, load_test, client, say)
    if isinstance(event, progressive.Paused):
        console.print(
            f"{env}: version {event.version} takes {event.percent}% of the traffic and waits for a person: "
            f"`mlops-workbook approve --env {env} --by <name>` takes it to 100% once one more step's analysis "
            f"passed, `mlops-workbook abort --env {env} --by <name>` rolls it back",
            soft_wrap=True,
        )
    elif event is not None:
        _say_live(env, event, image, cfg.serve_port)


def _say_live(env: str, event, image: str, port: int) -> None:
    console.print(
        f"{env}: version {event.version} from {image} is live on port {port} ({event.reason})"
        + (f", approved by {event.approved_by}" if event.approved_by else ""),
        soft_wrap=True,
    )


@app.command("approve")
def approve_canary(
    by: Annotated[str, typer.Option(help="who approves the step to 100% (recorded with the release)")],
    env: Env = "prod",
    load_test: Annotated[
        bool, typer.Option("--load-test", help="synthetic users during the last analysis, for an environment with none")
    ] = False,
    param: Params = None,
) -> None:
    """Take the canary paused in an environment (Continuous Delivery) to 100%: one more step is analysed first."""
    _decide(env, by, True, load_test, param)


@app.command("abort")
def abort_canary(
    by: Annotated[str, typer.Option(help="who refuses it (recorded with the rollback)")],
    env: Env = "prod",
    param: Params = None,
) -> None:
    """Roll back the canary paused in an environment (Continuous Delivery): every request to the live version."""
    _decide(env, by, False, False, param)


def _decide(env: str, person: str, approve: bool, load_test: bool, param) -> None:
    from mlops_workbook.cd.rollout import deploy, strategies, targets

    if not person.strip():
        raise errors.BadInputError("--by: name the person who decides on the step to 100%; nothing changed")
    cfg = _config(env, param)
    deployment = deploy.Deployment(cfg, targets.for_env(cfg, cfg.workspace_dir() / "copies"))
    paused = deployment.paused()
    if paused is None:
        raise errors.BadInputError(
            f"no canary is waiting for a person in {env}: `mlops-workbook deploy --env {env} --strategy canary` "
            "pauses one under continuous delivery; nothing changed"
        )
    version = paused["candidate"]["release"]["version"]
    client = _registry_holding(_config("staging", param), version)
    say = functools.partial(console.print, soft_wrap=True)
    outcome = strategies.decide(deployment, cfg.rollout, person, approve, load_test, client, say)
    if approve:
        _say_live(env, outcome, paused["candidate"]["release"]["image"], cfg.serve_port)
    else:
        console.print(outcome.message, soft_wrap=True)


def _registry_holding(staging_cfg, version: str):
    """The registry CI packaged the image from (staging's, where CT gates: `ci package --env staging`), if it can be
    reached and holds `version`: a rollout tags the version there with its outcome in each environment. Else None,
    said so: the deploy history still records the outcome."""
    from mlflow.exceptions import MlflowException

    from mlops_workbook.ct import steps
    from mlops_workbook.example import tracking

    kept = "the rollout's outcome is kept in the deploy history only"
    if not version.isdigit():
        console.print(f"the image names no registered version ({version!r}): {kept}", soft_wrap=True)
        return None
    if not staging_cfg.tracking_uri() and not (steps.environment_folder(staging_cfg) / "mlflow.db").exists():
        console.print(f"staging has no registry yet: {kept}", soft_wrap=True)
        return None
    try:
        client = steps.open_registry(staging_cfg)
        client.get_model_version(tracking.model_name(), version)
    except (errors.WorkbookError, MlflowException) as error:
        console.print(f"the registry does not give version {version} ({error}): {kept}", soft_wrap=True)
        return None
    return client


@app.command("deploy-pipelines")
def deploy_pipelines(env: Env = "staging", param: Params = None) -> None:
    """Install the environment's CT pipeline: its Airflow DAG (checked to load) and its Kubeflow YAML."""
    from mlops_workbook.cd.scheduling import pipelines

    cfg = _config(env, param)
    installed = pipelines.deploy(cfg)
    cron = pipelines.kubeflow_cron(cfg.retrain_schedule)
    console.print(
        f"{env}: Airflow DAG {installed.dag['dag_id']} ({' → '.join(installed.dag['tasks'])}; schedule "
        f"{installed.dag['schedule'] or 'by hand'}) in {paths.show(installed.dag_file)}; Kubeflow pipeline in "
        f"{paths.show(installed.kfp_yaml)}" + (f" (recurring run cron {cron})" if cron else ""),
        soft_wrap=True,
    )


@app.command()
def retrain(
    env: Env = "staging",
    param: Params = None,
    day: Annotated[
        list[str] | None,
        typer.Option("--day", "-d", help="a day to learn from (YYYY-MM-DD), repeat for more; none: every day"),
    ] = None,
) -> None:
    """Run the environment's CT pipeline now: through the team's Airflow (`servers: team`) or in this process;
    the new version is registered and gated in the environment's registry, where `ci package` finds the champion."""
    from mlops_workbook.cd.scheduling import retraining

    result = retraining.retrain(_config(env, param), day or None)
    outcome = "promoted to champion" if result["promoted"] else "not promoted"
    console.print(
        f"{env}: CT ({result['ran']}) registered version {result['version']}, {outcome}: {result['reason']}",
        soft_wrap=True,
    )


ci = typer.Typer(no_args_is_help=True, help="The model checks CI runs beside the tests.")
app.add_typer(ci, name="ci")


@ci.command()
def reproduce(
    record: Annotated[bool, typer.Option("--record", help="record a new reference instead of checking")] = False,
) -> None:
    """Retrain with the fixed seed and compare the predictions with the committed reference."""
    from mlops_workbook.ci import reproducibility

    if record:
        reproducibility.record()
        console.print(f"recorded {reproducibility.REFERENCE}: review the diff, then commit it")
        return
    now = reproducibility.check()
    console.print(
        f"reproducible: {len(now.predictions)} held-out predictions match {reproducibility.REFERENCE}", soft_wrap=True
    )


@ci.command()
def quality(
    env: Env = "dev",
    param: Params = None,
) -> None:
    """Train on the environment's data; fail unless the held-out metrics reach its minimums."""
    from mlops_workbook.ci import quality as gate_check

    metrics, decision = gate_check.evaluate(_config(env, param))
    if not decision.passes:
        _fail(f"quality gate ({env}): {decision.reason}", code=1)
    console.print(f"quality gate ({env}) passed: {decision.reason}", soft_wrap=True)


@ci.command("package")
def package_image(
    env: Env = "dev",
    tag: Annotated[str, typer.Option(help="the image's name:tag")] = "ride-completion:latest",
    param: Params = None,
) -> None:
    """Build the serving image around the environment's champion (CT registered and gated it) and smoke-test it."""
    from mlops_workbook.ci import packaging

    cfg = _config(env, param)
    built, facts = packaging.package(
        cfg, paths.fresh_dir(cfg.workspace_dir() / "package"), tag, port=cfg.serve_port + 1
    )  # beside, not on, a deployed API
    console.print(
        f"built {built.tag} with {facts.name} version {facts.version}: healthy, smoke test passed", soft_wrap=True
    )
