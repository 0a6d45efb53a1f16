#!/usr/bin/env bash
# Run a command inside a network namespace of its own, with only `lo` (brought up): the e2e world
# (etcd, kube-apiserver, controllers, webhook, gloo, Envoy, the pods and the tests) lives there, so
# pod addresses (10.244.0.N on this `lo`) and every test request stay inside what this run made,
# and fixed ports (gloo's 8765 and 9095) cannot clash with anything on the machine.
#   tests/e2e/netns.sh COMMAND [ARG]...
# As root: `unshare -n`; otherwise `unshare -rn` (a user namespace maps us to root inside).
set -euo pipefail
if [[ ${KUBECTL_CANARY_NETNS:-} != "$$" ]]; then
  [[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARG]..." >&2; exit 2; }
  command -v unshare >/dev/null || { echo "$0: unshare (util-linux) is required" >&2; exit 1; }
  command -v ip >/dev/null || { echo "$0: ip (iproute2) is required" >&2; exit 1; }
  flag=-n
  [[ $(id -u) == 0 ]] || flag=-rn
  # exec keeps the PID, so the inner run recognises itself by it.
  export KUBECTL_CANARY_NETNS=$$
  exec unshare "$flag" -- "$0" "$@"
fi
ip link set lo up
exec "$@"
