"""MLOps automation workbook: the reusable code that the notebooks teach and call.

Its layers, each using only those before it (tests/unit/test_project.py checks it):
- `core`: shared machinery (paths, errors, environments' parameters, processes, commands, Docker);
- `example`: the running example every stage works on (its schema, data, validation, bundle, tracking);
- the stages, one subpackage each, in the order they depend on each other: `cm`, `ct`, `ci`, `cd`;
- `course`: what runs, checks and grades the course itself (the CLI, the notebook runner, labs, grading).
"""

__version__ = "0.1.0"
