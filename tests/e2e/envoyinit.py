"""Stand-in for the gloo-envoy-wrapper image's `/docker-entrypoint.sh` -> `envoyinit` (Gloo's
projects/envoyinit): read the bootstrap from INPUT_CONF (default /etc/envoy/envoy.yaml, the mounted
ConfigMap), fill in the downward-API placeholders `{{.PodName}}` and `{{.PodNamespace}}` from the
POD_NAME and POD_NAMESPACE variables, and exec Envoy (ENVOY) with `--config-yaml` and the container's
args, as envoyinit does. (The real one also writes the result to OUTPUT_CONF, /tmp/envoy.yaml; pods
here share the node's /tmp, so it is not written.)
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    path = os.environ.get("INPUT_CONF", "/etc/envoy/envoy.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for placeholder, var in (("{{.PodName}}", "POD_NAME"), ("{{.PodNamespace}}", "POD_NAMESPACE")):
        text = text.replace(placeholder, os.environ.get(var, ""))
    envoy = os.environ.get("ENVOY", "/usr/local/bin/envoy")
    os.execv(envoy, [envoy, "--config-yaml", text, *sys.argv[1:]])


if __name__ == "__main__":
    main()
