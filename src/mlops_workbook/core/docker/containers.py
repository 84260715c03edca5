"""Running a workbook image as a container: started on a loopback port, gated on Docker's health check, removed by
run. The serving image is the only one run this way; its port and memory limit are here so every runner agrees."""

from __future__ import annotations

from mlops_workbook.core import errors, instance, waiting

PORT = 8000  # inside the container
# Each serving container's memory limit: about twice what the app holds under sustained load (the serving section
# of bench/results/latest.md measures it), so the MemoryNearLimit rule (deploy/prometheus/rules.yml) warns before
# the kernel kills it.
MEMORY_LIMIT = "256m"


def run(
    client,
    tag: str,
    port: int,
    name: str,
    timeout: float = 90,
    environment: dict | None = None,
    memory_limit: str | int = MEMORY_LIMIT,
    container_port: int = PORT,
):
    """Start the image on 127.0.0.1:`port` (its app listening on `container_port` inside) and wait for Docker's
    health check to say healthy.

    The container is named `name` plus this run's instance suffix (the returned container says it).
    An unhealthy or exited container raises UnhealthyError with its logs, and is removed.
    """
    import docker.errors

    name += instance.suffix()

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
    container = client.containers.run(
        tag,
        name=name,
        detach=True,
        environment=environment or {},
        labels={instance.LABEL: str(instance.number())},
        ports={f"{container_port}/tcp": ("127.0.0.1", port)},
        mem_limit=memory_limit,
    )

    def settled() -> bool:  # healthy, or never going to be
        container.reload()
        state = container.attrs["State"]
        return state.get("Health", {}).get("Status") in ("healthy", "unhealthy") or state["Status"] == "exited"

    waiting.within(settled, timeout, every=0.1)  # Docker answers a status query in milliseconds
    if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
        return container
    logs = container.logs(tail=30).decode(errors="replace").strip()
    state = container.attrs["State"]
    container.remove(force=True)
    why = (
        f"it exited with code {state['ExitCode']}"
        if state["Status"] == "exited"
        else "its health check failed"
        if state.get("Health", {}).get("Status") == "unhealthy"
        else f"it was not healthy after {timeout:g} s"
    )
    raise errors.UnhealthyError(
        f"container {name} from {tag} did not become healthy: {why}; it was removed.", logs=logs
    )


def remove_containers(client) -> list[str]:
    """Remove every container this instance started (whatever notebook, test or crashed run left it); their names."""
    found = client.containers.list(all=True, filters={"label": f"{instance.LABEL}={instance.number()}"})
    for container in found:
        container.remove(force=True)
    return [container.name for container in found]
