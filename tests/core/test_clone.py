"""The canary is its primary's copy: everything of the primary's Deployment but what makes it the canary,
and nothing that the server or another tool (Helm, Flux, Argo CD, kapp) owns."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import seed_objects

from kubectl_canary.core import names, objects
from kubectl_canary.core.clone import (
    Changes,
    canary_deployment,
    canary_hpa,
    hpa_targeting,
    main_container,
    parse_env,
    parse_image,
)
from kubectl_canary.core.errors import InvalidObject, UsageError
from kubectl_canary.core.objects import Workload

# A podinfo-like primary as the API server returns it: every field a real service has, the markers that
# Helm, Flux, Argo CD and kapp put on what they deploy, and the server's own fields.
PRIMARY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "shop-v1", "namespace": "shop", "uid": "4f1c", "resourceVersion": "8123", "generation": 4,
        "creationTimestamp": "2026-01-02T03:04:05Z", "selfLink": "/apis/apps/v1/namespaces/shop/deployments/shop-v1",
        "managedFields": [{"manager": "helm", "operation": "Update"}],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "77"}],
        "finalizers": ["example.com/cleanup"],
        "labels": {
            "team": "payments", "app.kubernetes.io/name": "shop", "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": "shop-1.2.0", "app.kubernetes.io/instance": "shop",
            "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            "helm.toolkit.fluxcd.io/name": "shop", "fluxcd.io/sync-gc-mark": "sha256.abc", "kapp.k14s.io/app": "17",
        },
        "annotations": {
            "owner": "payments@example.com", "deployment.kubernetes.io/revision": "4",
            "kubectl.kubernetes.io/last-applied-configuration": "{}", "meta.helm.sh/release-name": "shop",
            "meta.helm.sh/release-namespace": "shop", "helm.sh/resource-policy": "keep",
            "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/shop-v1",
            "argocd.argoproj.io/sync-options": "Prune=false", "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
        },
    },
    "spec": {
        "replicas": 3,
        "paused": True,
        "selector": {"matchLabels": {"app": "shop", "version": "v1"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "minReadySeconds": 5,
        "progressDeadlineSeconds": 120,
        "revisionHistoryLimit": 3,
        "template": {
            "metadata": {
                "creationTimestamp": None,
                "labels": {"app": "shop", "version": "v1", "team": "payments", "app.kubernetes.io/instance": "shop",
                           "helm.sh/chart": "shop-1.2.0"},
                "annotations": {"prometheus.io/scrape": "true", "kubectl.kubernetes.io/default-container": "shop"},
            },
            "spec": {
                "serviceAccountName": "shop",
                "securityContext": {"runAsNonRoot": True, "fsGroup": 2000},
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                        "labelSelector": {"matchLabels": {"app": "shop"}}}}]}},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": {"app": "shop"}}}],
                "initContainers": [{"name": "migrate", "image": "registry.example/shop-migrate:1.0",
                                    "args": ["--up"]}],
                "containers": [
                    {
                        "name": "shop", "image": "ghcr.io/stefanprodan/podinfo:6.9.2",
                        "command": ["./podinfo"], "args": ["--port=9898", "--config-path=/config"],
                        "ports": [{"name": "http", "containerPort": 9898}],
                        "env": [
                            {"name": "PODINFO_UI_MESSAGE", "value": "hello from v1"},
                            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop", "key": "token"}}},
                            {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "shop",
                                                                                      "resource": "limits.memory"}}},
                        ],
                        "envFrom": [{"configMapRef": {"name": "shop-env"}}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898}, "periodSeconds": 2},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9898}, "failureThreshold": 3},
                        "volumeMounts": [{"name": "config", "mountPath": "/config", "readOnly": True}],
                        "imagePullPolicy": "IfNotPresent",
                    },
                    {"name": "log-shipper", "image": "fluent/fluent-bit:3.1",
                     "volumeMounts": [{"name": "config", "mountPath": "/fluent-bit/etc"}]},
                ],
                "volumes": [{"name": "config", "configMap": {"name": "shop-config"}}],
            },
        },
    },
    "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 4},
}

KEPT_METADATA = {
    "name": "shop-v2", "namespace": "shop",
    "labels": {"team": "payments", "app.kubernetes.io/name": "shop", names.MANAGED_BY: names.MANAGER},
    "annotations": {"owner": "payments@example.com", names.ROLE: "canary"},
}


def clone(primary=PRIMARY, changes=None, version="v2", service="shop"):
    return canary_deployment(primary, service, "shop", version, changes or Changes(), "canary")


def expected_template(primary=PRIMARY, version="v2", images=None):
    """The primary's pod template with `version: V` and the given images: what the canary's must equal."""
    template = copy.deepcopy(primary["spec"]["template"])
    template["metadata"].pop("creationTimestamp", None)
    template["metadata"]["labels"]["version"] = version
    for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
        container["image"] = (images or {}).get(container["name"], container["image"])
    return template


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ((), {}),
        (((None, "ghcr.io/stefanprodan/podinfo:6.9.3"),), {"shop": "ghcr.io/stefanprodan/podinfo:6.9.3"}),
        ((("log-shipper", "fluent/fluent-bit:3.2"),), {"log-shipper": "fluent/fluent-bit:3.2"}),
        ((("migrate", "registry.example/shop-migrate@sha256:0a1b"),),
         {"migrate": "registry.example/shop-migrate@sha256:0a1b"}),
        (((None, "registry.example:5000/shop:2.0"), ("log-shipper", "fluent/fluent-bit:3.2")),
         {"shop": "registry.example:5000/shop:2.0", "log-shipper": "fluent/fluent-bit:3.2"}),
        (((None, "registry.example/shop:2.0"), ("shop", "registry.example/shop:2.0")),
         {"shop": "registry.example/shop:2.0"}),
    ],
)
def test_the_pod_template_is_the_primary_s_but_the_version_label_and_the_images_given(images, expected):
    canary = clone(changes=Changes(images=images))
    assert canary["spec"]["template"] == expected_template(images=expected)


def test_the_rollout_settings_are_copied_and_the_primary_s_rollout_state_is_not():
    spec = clone()["spec"]
    assert {k: v for k, v in spec.items() if k not in ("selector", "template")} == {
        "replicas": 3, "strategy": PRIMARY["spec"]["strategy"], "minReadySeconds": 5,
        "progressDeadlineSeconds": 120, "revisionHistoryLimit": 3}
    assert spec["selector"] == {"matchLabels": {"app": "shop", "version": "v2"}}


def test_metadata_keeps_the_team_label_and_owner_annotation_and_nothing_the_server_or_a_tool_owns():
    canary = clone()
    assert canary["metadata"] == KEPT_METADATA
    assert set(canary) == {"apiVersion", "kind", "metadata", "spec"}
    assert PRIMARY["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"  # the primary is unchanged


@pytest.mark.parametrize(
    ("field", "value", "kept"),
    [
        ("labels", {"team": "payments"}, True),
        ("labels", {"app.kubernetes.io/part-of": "store"}, True),
        ("labels", {"helm.sh/chart": "shop-1.2.0"}, False),
        ("labels", {"app.kubernetes.io/instance": "shop"}, False),
        ("labels", {"kustomize.toolkit.fluxcd.io/name": "apps"}, False),
        ("labels", {"helm.toolkit.fluxcd.io/namespace": "flux-system"}, False),
        ("labels", {"kapp.k14s.io/app": "17"}, False),
        ("labels", {"argocd.argoproj.io/instance": "shop"}, False),
        ("annotations", {"owner": "payments@example.com"}, True),
        ("annotations", {"example.com/fluxcd.io": "x"}, True),
        ("annotations", {"meta.helm.sh/release-name": "shop"}, False),
        ("annotations", {"helm.sh/hook": "post-install"}, False),
        ("annotations", {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}, False),
        ("annotations", {"source.toolkit.fluxcd.io/revision": "main@sha1:abc"}, False),
        ("annotations", {"fluxcd.io/automated": "true"}, False),
        ("annotations", {"deployment.kubernetes.io/revision": "9"}, False),
        ("annotations", {"kubectl.kubernetes.io/last-applied-configuration": "{}"}, False),
    ],
)
def test_which_labels_and_annotations_of_the_deployment_are_copied(field, value, kept):
    primary = copy.deepcopy(PRIMARY)
    primary["metadata"][field] = value
    found = clone(primary)["metadata"].get(field, {})
    assert all((found.get(k) == v) == kept for k, v in value.items())


def test_the_managed_by_label_is_the_tool_s_whatever_the_primary_said():
    assert clone()["metadata"]["labels"][names.MANAGED_BY] == names.MANAGER


@pytest.mark.parametrize(
    ("replicas", "given", "expected"),
    [(3, None, 3), (None, None, 1), (3, 0, 0), (3, 5, 5), (0, None, 0)],
)
def test_replicas_are_the_primary_s_unless_given(replicas, given, expected):
    primary = copy.deepcopy(PRIMARY)
    primary["spec"].pop("replicas")
    if replicas is not None:
        primary["spec"]["replicas"] = replicas
    assert clone(primary, Changes(replicas=given))["spec"]["replicas"] == expected


def adopted(selector):
    """A Deployment `shop` that ran before the tool: its pods carry no `version` label."""
    primary = copy.deepcopy(PRIMARY)
    primary["metadata"]["name"] = "shop"
    primary["spec"]["selector"] = selector
    del primary["spec"]["template"]["metadata"]["labels"]["version"]
    return primary


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "shop"}}, {"matchLabels": {"app": "shop", "version": "v2"}}),
        ({"matchLabels": {"app": "shop"}, "matchExpressions": [{"key": "team", "operator": "Exists"}]},
         {"matchLabels": {"app": "shop", "version": "v2"},
          "matchExpressions": [{"key": "team", "operator": "Exists"}]}),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["shop"]}]},
         {"matchExpressions": [{"key": "app", "operator": "In", "values": ["shop"]}],
          "matchLabels": {"version": "v2"}}),
        ({"matchLabels": {"app": "shop"}, "matchExpressions": [{"key": "version", "operator": "DoesNotExist"}]},
         {"matchLabels": {"app": "shop", "version": "v2"}}),
    ],
)
def test_an_adopted_primary_s_canary_selects_only_its_own_pods(selector, expected):
    canary = clone(adopted(selector))
    assert canary["spec"]["selector"] == expected
    pod_labels = canary["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["version"] == "v2"
    assert expected["matchLabels"].items() <= pod_labels.items()
    assert canary["metadata"]["name"] == "shop-v2"


def test_a_primary_without_a_selector_is_refused():
    primary = copy.deepcopy(PRIMARY)
    del primary["spec"]["selector"]
    with pytest.raises(InvalidObject, match=r"Deployment shop/shop-v1 has no spec\.selector"):
        clone(primary)


def test_pod_template_hash_and_a_paused_rollout_are_not_copied():
    primary = copy.deepcopy(PRIMARY)
    primary["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "5d8f9c"
    canary = clone(primary)
    assert "pod-template-hash" not in canary["spec"]["template"]["metadata"]["labels"]
    assert "paused" not in canary["spec"]


def deployment_with(name, containers):
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}},
                                  "spec": {"containers": [{"name": c, "image": f"{c}:1"} for c in containers]}}}}


@pytest.mark.parametrize(
    ("name", "containers", "expected"),
    [
        ("shop-v1", ["istio-proxy", "shop-v1", "shop"], "shop-v1"),
        ("shop-v1", ["log-shipper", "shop"], "shop"),
        ("shop-v1", ["podinfo"], "podinfo"),
        ("shop", ["proxy", "shop"], "shop"),
    ],
)
def test_the_main_container(name, containers, expected):
    assert main_container(deployment_with(name, containers), "shop") == expected


def test_an_ambiguous_main_container_lists_the_containers_and_says_how_to_name_one():
    with pytest.raises(UsageError) as raised:
        main_container(deployment_with("shop-v1", ["podinfo", "log-shipper"]), "shop")
    assert str(raised.value) == (
        "cannot tell the main container of Deployment shop/shop-v1: it has containers podinfo, log-shipper, "
        "none named after the Deployment or the service shop; name the container, as in --image CONTAINER=IMAGE "
        "(or --container NAME for --env)")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (Changes(images=(("web", "nginx:1"),)),
         "--image web=nginx:1: Deployment shop/shop-v1 has no container web; it has containers shop, log-shipper "
         "(init containers migrate)"),
        (Changes(images=((None, "shop:2"), ("shop", "shop:3"))),
         "--image gives container shop two images: shop:2 and shop:3"),
        (Changes(container="web"), "--container web: Deployment shop/shop-v1 has containers shop, log-shipper"),
    ],
)
def test_image_errors(changes, message):
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        clone(changes=changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (Changes(images=((None, "shop:2"),)), "--image CONTAINER=IMAGE"),
        (Changes(env=(("A", "1"),)), "--container NAME for --env"),
    ],
)
def test_changes_to_an_ambiguous_main_container_are_refused(changes, expected):
    primary = copy.deepcopy(PRIMARY)
    primary["spec"]["template"]["spec"]["containers"][0]["name"] = "podinfo"
    with pytest.raises(UsageError, match="cannot tell the main container") as raised:
        clone(primary, changes)
    assert expected in str(raised.value)


def env_of(deployment, container=0):
    return deployment["spec"]["template"]["spec"]["containers"][container].get("env")


TOKEN = {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop", "key": "token"}}}
MESSAGE = {"name": "PODINFO_UI_MESSAGE", "value": "hello from v1"}
MEMORY = PRIMARY["spec"]["template"]["spec"]["containers"][0]["env"][2]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ((), [MESSAGE, TOKEN, MEMORY]),
        ((("PODINFO_UI_MESSAGE", "hello from v2"),),
         [{"name": "PODINFO_UI_MESSAGE", "value": "hello from v2"}, TOKEN, MEMORY]),
        ((("PODINFO_UNREADY", "true"), ("LOG_LEVEL", "debug")),
         [MESSAGE, TOKEN, MEMORY, {"name": "PODINFO_UNREADY", "value": "true"},
          {"name": "LOG_LEVEL", "value": "debug"}]),
        ((("API_TOKEN", "plain"), ("API_TOKEN", "")), [MESSAGE, {"name": "API_TOKEN", "value": ""}, MEMORY]),
    ],
)
def test_env_sets_replaces_and_appends_variables_of_the_main_container(env, expected):
    canary = clone(changes=Changes(env=env))
    assert env_of(canary) == expected
    assert env_of(canary, 1) is None and env_of(PRIMARY) == [MESSAGE, TOKEN, MEMORY]


def test_env_goes_to_the_container_named_by_container():
    canary = clone(changes=Changes(env=(("LOG_LEVEL", "debug"),), container="log-shipper"))
    assert env_of(canary, 1) == [{"name": "LOG_LEVEL", "value": "debug"}]
    assert env_of(canary) == [MESSAGE, TOKEN, MEMORY]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("registry.example/shop:2.0", (None, "registry.example/shop:2.0")),
        ("registry.example:5000/shop@sha256:0a1b", (None, "registry.example:5000/shop@sha256:0a1b")),
        ("shop=registry.example/shop:2.0", ("shop", "registry.example/shop:2.0")),
        ("log-shipper=fluent/fluent-bit:3.2", ("log-shipper", "fluent/fluent-bit:3.2")),
    ],
)
def test_parse_image(text, expected):
    assert parse_image(text) == expected


@pytest.mark.parametrize("text", ["", "shop=", "=nginx", "Shop=nginx", "a=b=c", "shop=nginx latest", "nginx "])
def test_parse_image_errors(text):
    with pytest.raises(UsageError, match=r"^invalid --image .*: expected IMAGE for the main container or CONTAINER="):
        parse_image(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("LOG_LEVEL=debug", ("LOG_LEVEL", "debug")), ("A=b=c", ("A", "b=c")), ("EMPTY=", ("EMPTY", "")),
     ("my.var-1=x", ("my.var-1", "x"))],
)
def test_parse_env(text, expected):
    assert parse_env(text) == expected


@pytest.mark.parametrize("text", ["LOG_LEVEL", "=x", "1ST=x", "A B=x", "A$=x"])
def test_parse_env_errors(text):
    with pytest.raises(UsageError, match=r"^invalid --env .*: expected NAME=VALUE"):
        parse_env(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"replicas": -1}, "invalid --replicas -1"), ({"container": "Shop"}, "invalid --container 'Shop'"),
     ({"images": ["a=b=c"]}, "invalid --image"), ({"env": ["x"]}, "invalid --env")],
)
def test_changes_parse_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Changes.parse(**kwargs)


def test_changes_parse():
    assert Changes.parse(["shop:2", "log-shipper=fb:3"], ["A=1"], 2, "shop") == Changes(
        ((None, "shop:2"), ("log-shipper", "fb:3")), (("A", "1"),), 2, "shop")


# The container named after its Deployment (the seed chart's `S-V`) follows the Deployment's name.

def named_after_the_deployment():
    primary = copy.deepcopy(PRIMARY)
    pod = primary["spec"]["template"]
    pod["spec"]["containers"][0]["name"] = "shop-v1"
    pod["spec"]["containers"][0]["env"][2]["valueFrom"]["resourceFieldRef"]["containerName"] = "shop-v1"
    pod["spec"]["volumes"].append({"name": "limits", "downwardAPI": {"items": [
        {"path": "cpu", "resourceFieldRef": {"containerName": "shop-v1", "resource": "limits.cpu"}},
        {"path": "fb", "resourceFieldRef": {"containerName": "log-shipper", "resource": "limits.cpu"}}]}})
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "shop-v1",
                                      "container.apparmor.security.beta.kubernetes.io/shop-v1": "runtime/default",
                                      "container.apparmor.security.beta.kubernetes.io/log-shipper": "unconfined",
                                      "note": "shop-v1"}
    return primary


@pytest.mark.parametrize("container", ["shop-v1", "shop-v2"])
def test_the_container_named_after_the_primary_follows_the_canary_s_name_with_its_references(container):
    canary = clone(named_after_the_deployment(), Changes(images=((container, "shop:2"),)))
    template = canary["spec"]["template"]
    main, sidecar = template["spec"]["containers"]
    assert (main["name"], main["image"], sidecar["name"]) == ("shop-v2", "shop:2", "log-shipper")
    assert main["env"][2]["valueFrom"]["resourceFieldRef"]["containerName"] == "shop-v2"
    items = template["spec"]["volumes"][1]["downwardAPI"]["items"]
    assert [i["resourceFieldRef"]["containerName"] for i in items] == ["shop-v2", "log-shipper"]
    assert template["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/default-container": "shop-v2",
        "container.apparmor.security.beta.kubernetes.io/shop-v2": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/log-shipper": "unconfined", "note": "shop-v1"}


def test_the_next_rollout_finds_the_main_container_of_the_last_canary():
    v2 = clone(named_after_the_deployment())
    v3 = clone(v2, Changes(images=((None, "shop:3"),)), version="v3")
    assert [(c["name"], c["image"]) for c in v3["spec"]["template"]["spec"]["containers"]] == [
        ("shop-v3", "shop:3"), ("log-shipper", "fluent/fluent-bit:3.1")]


def test_a_container_named_after_the_service_keeps_its_name():
    canary = clone(adopted({"matchLabels": {"app": "shop"}}))
    assert [c["name"] for c in canary["spec"]["template"]["spec"]["containers"]] == ["shop", "log-shipper"]


# The seed: what `init` writes, copied, is what `start` wrote before (SPEC 1), byte for byte.

@pytest.mark.parametrize(
    ("primary", "changes", "canary"),
    [
        (Workload(), Changes(), Workload()),
        (Workload(port=9090, replicas=3), Changes(), Workload(port=9090, replicas=3)),
        (Workload(image="hashicorp/http-echo:1.0"), Changes(), Workload(image="hashicorp/http-echo:1.0")),
        (Workload(), Changes(images=((None, "nginx:1.27"),)), Workload(image="nginx:1.27")),
        (Workload(image="nginx:1.27"), Changes(images=((None, "hashicorp/http-echo"),)), Workload()),
        (Workload(image="nginx:1.27", args=("--serve",)), Changes(images=((None, "nginx:1.28"),)),
         Workload(image="nginx:1.28", args=("--serve",))),
        (Workload(), Changes(replicas=2), Workload(replicas=2)),
    ],
)
def test_the_copy_of_a_deployment_init_wrote_is_the_deployment_start_wrote(primary, changes, canary):
    written = objects.deployment("echo", "echo", "v1", primary, "primary")
    copied = canary_deployment(written, "echo", "echo", "v2", changes, "canary")
    wanted = objects.deployment("echo", "echo", "v2", canary, "canary")
    assert yaml.safe_dump(copied, sort_keys=False) == yaml.safe_dump(wanted, sort_keys=False)


def test_the_copy_of_the_seed_s_v1_is_the_seed_s_v2():
    seed = {o["metadata"]["name"]: o for o in seed_objects(2) if o["kind"] == "Deployment"}
    copied = canary_deployment(seed["echo-v1"], "echo", "echo", "v2", Changes(), "canary")
    assert copied["spec"] == seed["echo-v2"]["spec"]


# The HorizontalPodAutoscaler's twin.

HPA = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "shop", "namespace": "shop", "uid": "9", "resourceVersion": "5",
                 "labels": {"team": "payments", "app.kubernetes.io/managed-by": "Helm"},
                 "annotations": {"meta.helm.sh/release-name": "shop", "owner": "payments@example.com"}},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-v1"},
             "minReplicas": 2, "maxReplicas": 10,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                 "type": "Utilization", "averageUtilization": 70}}}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
    "status": {"currentReplicas": 3, "desiredReplicas": 3},
}


def hpa(name, kind, target):
    found = copy.deepcopy(HPA)
    found["metadata"]["name"] = name
    found["spec"]["scaleTargetRef"].update(kind=kind, name=target)
    return found


@pytest.mark.parametrize(
    ("hpas", "expected"),
    [
        ([hpa("a", "Deployment", "shop-v0"), hpa("b", "Deployment", "shop-v1")], "b"),
        ([hpa("b", "Deployment", "shop-v1"), hpa("a", "Deployment", "shop-v1")], "a"),
        ([hpa("a", "StatefulSet", "shop-v1")], None),
        ([], None),
    ],
)
def test_hpa_targeting(hpas, expected):
    found = hpa_targeting(hpas, "shop-v1")
    assert (found and found["metadata"]["name"]) == expected


def test_the_canary_hpa_scales_the_canary_like_the_primary_s():
    twin = canary_hpa(HPA, "shop-v2")
    spec = copy.deepcopy(HPA["spec"])
    spec["scaleTargetRef"]["name"] = "shop-v2"
    assert twin == {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "shop-v2", "namespace": "shop",
                     "labels": {"team": "payments", names.MANAGED_BY: names.MANAGER},
                     "annotations": {"owner": "payments@example.com"}},
        "spec": spec,
    }
    assert HPA["spec"]["scaleTargetRef"]["name"] == "shop-v1"
