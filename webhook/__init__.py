"""canary-webhook: the mutating and validating admission webhook that guards every RouteTable.

Mutation and validation are pure functions over AdmissionReview objects (reusing the RouteTable
model of `kubectl_canary.core`); the Flask app and the gunicorn server are thin edges around them.
"""
