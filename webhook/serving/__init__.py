"""Serving HTTP: gunicorn, its worker, and the probe listener; where a change of server stack would stop.

`server` configures gunicorn (TLS from `webhook.tls.reload`, keep-alive, the graceful stop); `worker` is the
gunicorn worker with its own front stage: `connections` accepts and bounds connections and handshakes,
`framing` finds where a request ends without a thread, `rate` counts finished reviews for load shedding,
`allocator` sets glibc's allocator; `probes` answers /healthz, /readyz and /metrics on a port of its own.

May import: `webhook.tls`, `webhook.health`, `webhook.logs`, gunicorn. Never admission, cluster or the
app: the worker runs whatever WSGI app the console script gives it.
"""
