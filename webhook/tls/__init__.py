"""TLS: the certificates the webhook serves and the CA that kube-apiserver trusts.

`certs` makes a CA and serving pairs with `cryptography` and writes them as PEM files; `renewal` decides,
without I/O, whether the TLS Secret's pair is kept, reissued or its CA rotated; `bootstrap` keeps that Secret
in the cluster, publishes the caBundle into the webhook configurations and renews in a thread; `reload`
gives the server a TLS context rebuilt when the files change.

May import: `kubectl_canary.core`, cryptography, the kubernetes client. Never admission, cluster, serving,
the app or the console script.
"""
