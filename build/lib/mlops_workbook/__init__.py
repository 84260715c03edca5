"""MLOps automation workbook: the reusable code that the notebooks teach and call.

Shared modules sit at the top (schema, data, config, the notebook runner, labs, CLI);
each automation stage gets its own subpackage (ci, cd, ct, cm) as its lesson lands.
"""

__version__ = "0.1.0"
