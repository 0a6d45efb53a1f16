"""Knowing the cluster: the implementations of `webhook.admission.lookup.Lookup` and what keeps them fresh.

`cache.InformerLookup` answers from watch caches (`informer.Watched`, one SharedInformer per kind) and their
indexes (`index`), reading the API server directly (`direct`) only for fresh reads and before the caches
sync; `state.StateLookup` answers from a directory of YAML (`serve --state`, `review`); `memo.Memo` is one
request's view of a Lookup, memoised, with its clocked budget for fresh reads; `client` loads the kubernetes
client's configuration.

May import: `webhook.admission`, `kubectl_canary.core`, `kubectl_canary.manifests`, the kubernetes client.
Never serving, tls, the app or the console script.
"""
