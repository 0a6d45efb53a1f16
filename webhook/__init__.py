"""canary-webhook: the mutating and validating admission webhook that guards every RouteTable.

The packages are its layers; each may import only the ones below it (`make lint` checks it with
import-linter's contracts in pyproject.toml):

    cli                          the console script, a module per command (serve, review, certs)
    serving | app                gunicorn and its worker, probes; the Flask app around the decisions
    tls | cluster | health | metrics | logs
                                 certificates and their renewal; the Lookup implementations and their
                                 caches; what the probes answer; Prometheus metrics; JSON log lines
    admission                    the decisions: pure functions over an AdmissionReview and a Lookup

Modules of one layer do not import each other. `admission` does no I/O at all (no socket, file, thread,
process or clock) and sees the cluster only through its `Lookup` interface; the webhook and the plugin
share `kubectl_canary.core`, the plugin's pure core.
"""
