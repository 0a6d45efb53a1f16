"""canary-webhook: the mutating and validating admission webhook that guards every RouteTable.

Pure core: `review` (AdmissionReview v1 in and out), `decision` (settings, context, problems,
verdicts), `mutation` and `validation` (lists of mutators and checks over the shared RouteTable
model of `kubectl_canary.core`), `lookup` (the cluster read interface; `StateLookup` for a YAML
directory). Edges: `cache` (watch caches of the cluster), `app` (Flask), `server` (gunicorn, TLS
reload), `certs` (cryptography), `metrics`, `logs`, `cli` (`canary-webhook serve|review|certs`).
"""
