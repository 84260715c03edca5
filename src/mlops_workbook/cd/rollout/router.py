"""The environment's front door: nginx on a fixed port, forwarding to whichever copy of the app is live.

Clients always call the environment's `serve_port`. A deploy starts the new copy on another port,
checks it, then points nginx at it and reloads: nginx finishes the requests in flight on the old
copy and sends new ones to the new copy, so the switch drops nothing. A progressive rollout
(cd/rollout/progressive) routes through it too: a canary's share of requests by nginx's upstream
weights, a shadow's copy of every /predict by nginx's `mirror`.
"""

from __future__ import annotations

import json
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_workbook.cd.serving import REQUEST_ID
from mlops_workbook.core import commands, errors, processes, waiting

CONF = """\
# routes {routes}
# written by mlops_workbook.cd.rollout.router: the {env} front door
daemon off;   # it runs as the workbook's own background process (mlops_workbook.core.processes)
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/tmp;
    proxy_temp_path {folder}/tmp;
    client_body_buffer_size 1m;   # a full 1000-row request stays in memory
    upstream live {{   # the live copy of the app, and a canary's share of the requests
        {servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{  # the Host with its port: redirects keep it; the request numbered here, whatever a client sent
            proxy_pass http://live;
            proxy_set_header Host $http_host;
            proxy_set_header {header} $request_id;
        }}
        # a copy that dies with a request in flight: nginx resends it to the other copy (`error`), a POST too, since a
        # prediction changes nothing (`non_idempotent`); a copy's own 5xx answers still reach its users
        location = /predict {{
            {mirror}
            proxy_pass http://live;
            proxy_set_header Host $http_host;
            proxy_set_header {header} $request_id;
            proxy_next_upstream error timeout non_idempotent;
        }}
        location = /predictions/log {{ return 404; }}  # what users asked is not for other users: a copy's port gives it
        # the environment's metrics are the live copy's alone: through the weights, a scrape would answer from either
        # copy and every series would jump between versions (a rollout scrapes each copy directly, by its track; the
        # environment's own alerts see the canary's answers only once it is live: its analysis judges it before)
        location = /metrics {{ proxy_pass http://127.0.0.1:{live}/metrics; }}
        {shadow}
    }}
}}
"""
# With a shadow, /predict's `mirror` sends it a copy of every request; its answer is dropped, users get only the live
# copy's.
# nginx ends a request only once its mirror has answered: short timeouts keep a slow shadow from holding users up.
# Both carry the request's number ($request_id, shared with the mirror's subrequest): the shadow report joins by it.
SHADOW = """location = /_shadow {{
            internal;
            proxy_pass http://127.0.0.1:{shadow}/predict;
            proxy_set_header {header} $request_id;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
        }}"""


@dataclass(frozen=True)
class Routes:
    """Where the front door sends requests: the live copy; `canary_percent` of them to a canary; a copy of each
    /predict to a shadow. nginx's weighted round robin makes the share exact: 5% is one request in twenty.
    `max_fails=0` keeps a canary in the rotation whatever it answers (its 5xx reach the users of its share and its
    metrics); a canary that refuses connections has its requests resent to the live copy by nginx, so the analysis
    also checks that Prometheus could scrape it all along."""

    live: int
    canary: int | None = None
    canary_percent: int = 0
    shadow: int | None = None

    def __post_init__(self):
        if (self.canary is None) != (self.canary_percent == 0) or not 0 <= self.canary_percent < 100:
            raise ValueError(
                f"a canary takes 1 to 99% of requests with its port (got {self.canary_percent}% for {self.canary}); "
                "at 100% it is the live copy"
            )

    def servers(self) -> str:
        if self.canary is None:
            return f"server 127.0.0.1:{self.live};"
        return (
            f"server 127.0.0.1:{self.live} weight={100 - self.canary_percent} max_fails=0; "
            f"server 127.0.0.1:{self.canary} weight={self.canary_percent} max_fails=0;"
        )


class RouterError(errors.RunError):
    """nginx refused the configuration or did not start; the message carries what it said."""


class Router:
    """nginx for one environment, with its own folder, pid file and logs (no system service)."""

    def __init__(self, folder: Path, port: int, env: str):
        self.folder, self.port, self.env = Path(folder).resolve(), port, env
        self.conf = self.folder / "nginx.conf"
        self._replaced: set[int] = set()  # the workers a reload asked to quit: gone once it is in effect

    def routes(self) -> Routes | None:
        """Where nginx sends requests now, or None before the first deploy."""
        first = self.conf.read_text().splitlines()[0] if self.conf.exists() else ""
        if not first.startswith("# routes "):  # none yet, or written before routes were recorded: deploy again
            return None
        return Routes(**json.loads(first.removeprefix("# routes ")))

    def upstream(self) -> int | None:
        """The port of the live copy, or None before the first deploy."""
        routes = self.routes()
        return routes.live if routes else None

    @property
    def process_name(self) -> str:
        return f"{self.env}-nginx"

    def running(self) -> bool:
        return processes.running(self.process_name)

    def point_to(self, upstream: int) -> None:
        """Send every new request to 127.0.0.1:`upstream` (starts nginx on the first call)."""
        self.route(Routes(upstream))

    def route(self, routes: Routes) -> None:
        """Send new requests as `routes` says (starts nginx on the first call)."""
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        previous = self.conf.read_text() if self.conf.exists() else None
        shadow = SHADOW.format(shadow=routes.shadow, header=REQUEST_ID) if routes.shadow else ""
        mirror = "mirror /_shadow;" if routes.shadow else "# no shadow"
        self.conf.write_text(
            CONF.format(
                routes=json.dumps(asdict(routes)),
                env=self.env,
                folder=self.folder,
                servers=routes.servers(),
                port=self.port,
                live=routes.live,
                header=REQUEST_ID,
                shadow=shadow,
                mirror=mirror,
            )
        )
        try:
            self._nginx("-t")  # a bad configuration is refused before it replaces the good one
            if self.running():
                self._replaced = self._workers()
                self._nginx("-s", "reload")
            else:
                self._start()
        except RouterError:
            if previous is not None:
                self.conf.write_text(previous)
            raise

    def wait_settled(self, timeout: float = 10) -> None:
        """Wait until the workers of the previous configuration have finished and exited.

        After a reload, old workers still finish (and may still accept) requests for the old copy:
        the old copy may only stop once they are gone.
        """

        def settled() -> bool:  # one worker, started by the reload: `nginx -s reload` returns before it is done
            workers = self._workers()
            return not self.running() or (len(workers) == 1 and not workers & self._replaced)

        if not waiting.within(settled, timeout, every=0.05):
            raise RouterError(f"nginx for {self.env} still runs the previous configuration after {timeout:g} s")

    def _workers(self) -> set[int]:
        master = processes.find(self.process_name)
        return {child.pid for child in master.children()} if master else set()

    def stop(self, timeout: float = 10) -> None:
        """Stop nginx gracefully (it finishes what is in flight) and wait until its port is free."""
        processes.stop(self.process_name, timeout, sig=signal.SIGQUIT)

    def _start(self, timeout: float = 10) -> None:
        process = processes.start(self.process_name, self._command(), self.folder / "nginx.out")
        if not processes.wait_ready(process, self._listening, timeout):
            processes.stop(self.process_name)
            said = (
                (self.folder / "error.log").read_text().strip().splitlines()[-3:]
                if (self.folder / "error.log").exists()
                else []
            )
            raise RouterError(f"nginx did not start for {self.env} on port {self.port}: " + " ".join(said))

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def _command(self, *args: str) -> list[str]:
        return ["nginx", "-p", str(self.folder), "-e", str(self.folder / "error.log"), "-c", str(self.conf), *args]

    def _nginx(self, *args: str) -> None:
        try:
            commands.run(self._command(*args), f"nginx {' '.join(args) or 'start'} for {self.env}")
        except commands.CommandError as error:  # the router's own error: its callers restore what worked
            raise RouterError(error.message, logs=error.logs) from None
