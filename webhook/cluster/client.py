"""The kubernetes client's configuration, as kubectl finds it: `--kubeconfig`, else in-cluster, else ~/.kube/config."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes import config as _config

from kubectl_canary.core.errors import ClusterError

# The kubernetes client's config loaders are not annotated; use them as Any.
config: Any = _config


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient for `--kubeconfig F`, else the in-cluster service account, else ~/.kube/config."""
    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)
            except config.ConfigException:
                config.load_kube_config(client_configuration=cfg, persist_config=False)
    except (config.ConfigException, OSError) as err:
        raise ClusterError(f"no cluster configuration ({err}); pass --kubeconfig, or --state DIR") from err
    return client.ApiClient(cfg)
