"""Continuous Integration: the checks a change must pass, and packaging it as an image.

Beyond the unit and data tests (`tests/`), an ML project checks its model: the same code, data
and seed must give the same predictions as on the developer's machine, and the model must reach
a quality floor on held-out data.
"""
