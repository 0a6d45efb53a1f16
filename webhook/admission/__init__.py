"""Deciding: what the webhook answers to one AdmissionReview, as pure functions over data.

`review` parses an AdmissionReview v1 and writes the response; `decision` holds the values a decision is
made of (settings, context, problems, verdicts); `draft` records a mutation as JSON Patch; `mutation`,
`validation`, `deletion` (Deployment DELETEs), `policy` (CanaryPolicy fields) and `ratchet` are the rules,
registered by name in `rules` (`RULES`, the one set `serve`, `review` and the tests use); `limits` bounds
what any answer or log says; `lookup` is the `Lookup` interface, the only view of the cluster a rule has,
and the budget of its fresh reads.

May import: `kubectl_canary.core` and the standard library's pure parts. Never a socket, file, thread,
process or clock, nor any other webhook package (checked by `make lint`).
"""
