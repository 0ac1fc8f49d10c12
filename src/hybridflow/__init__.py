"""hybridflow: Bayesian causal inference on migration pressure at borders.

Data flow (each stage imports only from stages to its left)::

    data -> design -> models -> inference -> analysis -> report
                                         study runner / cli on top
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
