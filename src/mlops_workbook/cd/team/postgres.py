"""A PostgreSQL cluster of the environment's own, in its workspace: the database a team's MLflow server and
Airflow share, run from Debian's binaries (`initdb`, `pg_ctl`, `pg_dump`, `pg_restore`) on a loopback port.

PostgreSQL refuses to run as root: run as root (CI, containers), the cluster belongs to Debian's unprivileged
`postgres` user and every server command runs as that user (`runuser`); run as anyone else, it is theirs.
Connections are trusted on 127.0.0.1 only (a shared host needs passwords: README, team mode).
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from mlops_workbook.core import commands, errors, processes

DEBIAN = Path("/usr/lib/postgresql")  # Debian's server programs: <version>/bin, not on PATH
ROLE = "workbook"  # the cluster's superuser, whose databases the servers use
INSTALL = "apt-get install --no-install-recommends postgresql (or bash .ci/components)"


def located(name: str) -> str:
    """Where a PostgreSQL program is: Debian's newest version's folder, else its name (found on PATH, if anywhere)."""
    found = sorted(
        DEBIAN.glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0
    )
    return str(found[-1]) if found else name


def program(name: str) -> str:
    """A PostgreSQL program's path; UnavailableError, saying how to install it, if there is none."""
    path = shutil.which(located(name))
    if path is None:
        raise errors.UnavailableError(f"PostgreSQL's `{name}` is not installed: {INSTALL}")
    return path


def owner() -> str:
    """Who runs the cluster: this user, or `postgres` when this is root (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        raise errors.UnavailableError(
            f"PostgreSQL will not run as root and there is no `postgres` user to run it as: {INSTALL} creates it"
        ) from None


class Cluster:
    """`Cluster(folder, port, name)`: `start()` creates it on first use, then runs it until `stop()`."""

    def __init__(self, folder: Path, port: int, name: str):
        self.folder, self.port, self.name = Path(folder), port, name  # name: its entry in the process registry
        self.data, self.log = self.folder / "data", self.folder / "postgres.log"

    def url(self, database: str, driver: str = "psycopg2") -> str:
        """A SQLAlchemy URL of one of its databases (what MLflow and Airflow are given)."""
        return f"postgresql+{driver}://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, command: list[str]) -> list[str]:
        return command if os.geteuid() != 0 else ["runuser", "-u", owner(), "--", *command]

    def _run(self, command: list[str], what: str, check: bool = True):
        return commands.run(self._as_owner(command), what, check=check, timeout=60)

    def start(self, databases: tuple[str, ...]) -> None:
        """Create the cluster if it is new, start it and wait until it accepts connections, create `databases`."""
        if not (self.data / "PG_VERSION").exists():
            self._create()
        running = processes.find(self.name)
        if running is not None and str(self.data) not in running.cmdline():
            raise errors.UnavailableError(
                f"another {self.name} runs in this instance, from {' '.join(running.cmdline())}: stop it with "
                "`mlops-workbook down` and that stack's options (or `mlops-workbook stop`), then start this one"
            )
        if running is None:
            self._run(
                [
                    program("pg_ctl"),
                    "start",
                    "--wait",
                    "--timeout=30",
                    f"--pgdata={self.data}",
                    f"--log={self.log}",
                    f"--options=-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
                ],
                f"starting PostgreSQL on port {self.port} (its log: {self.log})",
            )
            pid = int((self.data / "postmaster.pid").read_text().split()[0])  # pg_ctl gave it a session of its own
            processes.record(self.name, pid, ["postgres", "-D", str(self.data)])  # its command line names the folder
        existing = self.sql("SELECT datname FROM pg_database").split()
        for database in databases:
            if database not in existing:
                self.sql(f'CREATE DATABASE "{database}"')

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.folder, owner())
        if self._run(["test", "-w", str(self.folder)], "a write check", check=False).returncode != 0:
            raise errors.UnavailableError(
                f"PostgreSQL runs as the unprivileged user {owner()!r}, who cannot reach {self.folder}: choose a "
                "workspace in a folder others may enter (chmod o+x on the folders above it), such as the repository's"
            )
        self._run(
            [program("initdb"), f"--pgdata={self.data}", f"--username={ROLE}", "--auth=trust", "--encoding=UTF8"],
            "creating the PostgreSQL cluster (initdb)",
        )

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one SQL statement with psql; what it printed, unaligned and without headers."""
        done = commands.run(
            [program("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", database, "-XAtc", statement],
            f"psql on port {self.port}: {statement}",
            timeout=30,
        )
        return done.stdout.strip()

    def running(self) -> bool:
        return processes.running(self.name)

    def stop(self) -> bool:
        """A fast shutdown (open sessions are ended, nothing committed is lost); whether it was running."""
        if not self.running():
            return False
        self._run([program("pg_ctl"), "stop", "--wait", "--mode=fast", f"--pgdata={self.data}"], "stopping PostgreSQL")
        processes.stop(self.name)  # forgets it (and stops what pg_ctl could not)
        return True

    def dump(self, database: str, into: Path) -> Path:
        """A backup of one database in pg_dump's custom format (what `restore` reads)."""
        self._client("pg_dump", database, ["--format=custom", f"--file={into}"], "backing up")
        return into

    def restore(self, database: str, backup: Path) -> None:
        """Replace the database's content with a backup's (`--clean`: its tables are dropped first)."""
        self._client(
            "pg_restore", database, ["--clean", "--if-exists", "--single-transaction", str(backup)], "restoring"
        )

    def _client(self, name: str, database: str, options: list[str], what: str) -> None:
        commands.run(
            [program(name), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", database, *options],
            f"{what} the {database} database ({name})",
            timeout=300,
        )
