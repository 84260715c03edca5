"""Shared machinery every other layer uses: where things live, errors, an environment's parameters, ports and
locks per run, processes, commands, waits and Docker. It knows nothing of the example or the stages."""
