"""The gateway-proxy as Gloo's Helm chart deploys it (install/helm/gloo/templates/7-gateway-proxy-
deployment.yaml and 9-gateway-proxy-configmap.yaml, gloo v1.22.1), for the node agent to run:

- ConfigMap `gateway-proxy-envoy-config` with `envoy.yaml`: node id `{{.PodName}}.{{.PodNamespace}}`
  (filled in by envoyinit), role `gloo-system~gateway-proxy` (gloo's xDS cache key), the static
  `prometheus_listener` on 8081 (`/metrics` -> admin `/stats/prometheus`, `/ready`) and, as with
  `gatewayProxies.gatewayProxy.readConfig: true`, the `read_config_listener` on 8082 (GET `/ready`,
  `/stats`, `/config_dump`, `/clusters` -> the admin), `admin_port_cluster` to the admin on
  127.0.0.1:19000, and ADS to gloo.
- Deployment `gateway-proxy` (labels `gloo: gateway-proxy`, `gateway-proxy-id: gateway-proxy`), image
  `quay.io/solo-io/gloo-envoy-wrapper` with args `--disable-hot-restart`, POD_NAME and POD_NAMESPACE
  from the downward API, the ConfigMap on /etc/envoy; and the Service `gateway-proxy`.

Differences, and why: gloo runs outside a pod here, so ADS goes to the node's address
(10.244.0.1:9977) instead of `gloo.gloo-system.svc.cluster.local:9977`; the header matchers use
`string_match` (the chart's `exact_match` is deprecated in Envoy's v3 API, which upstream Envoy may
refuse); no probes (the chart's are off by default too).
"""

from __future__ import annotations

from typing import Any

import yaml

from .images import ENVOY_WRAPPER
from .sandbox import NODE_IP

NAMESPACE = "gloo-system"
NAME = "gateway-proxy"
LABELS = {"gloo": "gateway-proxy", "gateway-proxy-id": "gateway-proxy"}
HTTP_PORT = 8080
METRICS_PORT = 8081
READ_CONFIG_PORT = 8082
ADMIN_PORT = 19000
XDS_CLUSTER = "gloo.gloo-system.svc.cluster.local:9977"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def _get(match: dict[str, Any], **route: Any) -> dict[str, Any]:
    return {"match": {**match, "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
            "route": {"cluster": "admin_port_cluster", **route}}


def _listener(name: str, port: int, prefix: str, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": HCM, "codec_type": "AUTO", "stat_prefix": prefix,
                "route_config": {"name": f"{prefix}_route", "virtual_hosts": [
                    {"name": f"{prefix}_host", "domains": ["*"], "routes": routes}]},
                "http_filters": [ROUTER]}}]}]}


def _cluster(name: str, address: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "connect_timeout": "5.000s", "type": "STATIC", "lb_policy": "ROUND_ROBIN",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": address, "port_value": port}}}}]}]}, **extra}


def bootstrap(xds_port: int) -> dict[str, Any]:
    metrics = [_get({"path": "/ready"}), _get({"prefix": "/metrics"}, prefix_rewrite="/stats/prometheus")]
    read_config = [_get({"path": "/ready"}), _get({"prefix": "/stats"}), _get({"prefix": "/config_dump"}),
                   _get({"prefix": "/clusters"})]
    http2 = {"typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}}
    return {
        "layered_runtime": {"layers": [{"name": "static_layer", "static_layer": {"overload": {
            "global_downstream_max_connections": 250000}}}, {"name": "admin_layer", "admin_layer": {}}]},
        "node": {"cluster": "gateway", "id": "{{.PodName}}.{{.PodNamespace}}",
                 "metadata": {"role": f"{NAMESPACE}~{NAME}"}},
        "static_resources": {
            "listeners": [_listener("prometheus_listener", METRICS_PORT, "prometheus", metrics),
                          _listener("read_config_listener", READ_CONFIG_PORT, "read_config", read_config)],
            "clusters": [_cluster(XDS_CLUSTER, NODE_IP, xds_port, alt_stat_name="xds_cluster", **http2),
                         _cluster("admin_port_cluster", "127.0.0.1", ADMIN_PORT)],
        },
        "dynamic_resources": {
            "ads_config": {"transport_api_version": "V3", "api_type": "GRPC", "rate_limit_settings": {},
                           "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}]},
            "cds_config": {"resource_api_version": "V3", "ads": {}},
            "lds_config": {"resource_api_version": "V3", "ads": {}},
        },
        "admin": {"access_log_path": "/dev/null",
                  "address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN_PORT}}},
    }


def manifests(xds_port: int, replicas: int) -> list[dict[str, Any]]:
    """The ConfigMap, Deployment and Service of the gateway-proxy."""
    meta = {"namespace": NAMESPACE, "labels": dict(LABELS)}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{NAME}-envoy-config", **meta},
              "data": {"envoy.yaml": yaml.safe_dump(bootstrap(xds_port), sort_keys=False)}}
    env = [{"name": n, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{f}"}}}
           for n, f in (("POD_NAMESPACE", "namespace"), ("POD_NAME", "name"))]
    container = {"name": NAME, "image": f"{ENVOY_WRAPPER}:1.22.1", "imagePullPolicy": "IfNotPresent",
                 "args": ["--disable-hot-restart"], "env": env,
                 "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                           {"name": "http-monitoring", "containerPort": METRICS_PORT}],
                 "volumeMounts": [{"mountPath": "/etc/envoy", "name": "envoy-config"}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, **meta}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"gloo": "gateway-proxy", "gateway-proxy-id": NAME}},
        "template": {"metadata": {"labels": dict(LABELS)}, "spec": {
            "containers": [container],
            "volumes": [{"name": "envoy-config", "configMap": {"name": f"{NAME}-envoy-config"}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, **meta}, "spec": {
        "type": "ClusterIP", "selector": {"gloo": "gateway-proxy", "gateway-proxy-id": NAME},
        "ports": [{"name": "http", "port": 80, "targetPort": HTTP_PORT, "protocol": "TCP"}]}}
    return [config, deployment, service]
