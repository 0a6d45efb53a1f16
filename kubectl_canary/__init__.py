"""kubectl-canary: two-phase canary releases on Gloo Edge.

The package is split into a pure core (`kubectl_canary.core`: names, the RouteTable model, object
builders, plans) with no I/O, the object stores that read and write a cluster or a directory
(`kubectl_canary.store`), and the click layer (`kubectl_canary.cli`). The admission webhook (`webhook`)
imports only the core.
"""

__version__ = "0.1.0"
