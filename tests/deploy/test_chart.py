"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, Helm 4) without
a cluster, every manifest validated by kubernetes-validate in strict mode, the Prometheus
Operator objects checked by structure and by promtool.

Every values file in helm/smartlead-exporter/ci/ is a variant (chart-testing installs each of
them too); `everything` sets every value the chart has."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import test_webconfig_prometheus as webconfig
from deploy_support import CHART_DIR, DASHBOARD_FILE, JOB_MATCHER, REPO, RULES_FILE, exporter_binary, load_rules, promtool

helm.disable_logging()

RELEASE = "smartlead"
NAMESPACE = "monitoring"
FULLNAME = "smartlead-smartlead-exporter"
API_KEY = "sl-test-key-7f3a9c"  # a value to hunt for in rendered manifests
ACCOUNT_KEY = "sl-account-key-51c0de"  # the same, for an accounts[].apiKey
KEY_FILE = "/etc/smartlead-exporter/secret/api-key"
CONFIG_FILE = "/etc/smartlead-exporter/config/config.yaml"
CA_FILE = "/etc/smartlead-exporter/ca/ca.crt"
CHART_YAML = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
DEFAULT_VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
# The oldest Kubernetes the chart declares and the newest kubernetes-validate knows.
KUBE_VERSIONS = [
    re.match(r">=\s*(\d+\.\d+\.\d+)", CHART_YAML["kubeVersion"]).group(1),
    kubernetes_validate.latest_version(),
]
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}  # CRDs: not in kubernetes-validate's schemas
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
JOB_REGEX = JOB_MATCHER  # the rules file's own job matcher, which the chart rewrites

CI_DIR = CHART_DIR / "ci"
VARIANTS = {p.name.removesuffix("-values.yaml"): yaml.safe_load(p.read_text()) for p in sorted(CI_DIR.glob("*-values.yaml"))}
# Mutual TLS: the kubelet cannot present a client certificate, so the probes go to the
# plain-HTTP health listener (port `health`). Three ways to require one: the current name, the
# older name the exporter accepts, and a file in an existing Secret.
def _mtls(client_auth_type: str) -> dict:
    return {"smartlead": {"existingSecret": "smartlead-api-key"},
            "webConfig": {"tlsSecret": "smartlead-exporter-tls",
                          "config": {"tls_server_config": {"cert_file": "/etc/smartlead-exporter/tls/tls.crt",
                                                           "key_file": "/etc/smartlead-exporter/tls/tls.key",
                                                           "client_ca_file": "/etc/smartlead-exporter/tls/ca.crt",
                                                           "client_auth_type": client_auth_type}}}}


VARIANTS["mtls"] = _mtls("RequireAndVerifyClientCert")
VARIANTS["mtls-older-name"] = _mtls("RequireClientCert")
VARIANTS["mtls-existing-secret"] = {"smartlead": {"existingSecret": "smartlead-api-key"},
                                    "webConfig": {"existingSecret": "smartlead-web", "tls": True, "clientCertRequired": True}}
MTLS_VARIANTS = {"mtls", "mtls-older-name", "mtls-existing-secret"}
HEALTH_PORT = 10073


# --- rendering --------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping, as strict parsers (and
    kubectl's) do; PyYAML's own keeps the last silently."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def strict_load_all(text: str) -> list:
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc]


def raw_render(values: dict) -> dict[str, str]:
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE)


class Rendered:
    """The objects of one render, found by kind and name."""

    def __init__(self, values: dict):
        self.values = values
        self.objects: list[dict] = []
        self.notes = ""
        for path, text in raw_render(values).items():
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            self.objects.extend(strict_load_all(text))
        keys = [(o["kind"], o["metadata"]["name"]) for o in self.objects]
        assert len(keys) == len(set(keys)), f"an object rendered twice: {keys}"

    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    def all(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str | None = None) -> dict:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} objects named {name}: {[o['metadata']['name'] for o in self.all(kind)]}"
        return found[0]

    @property
    def workload(self) -> dict:
        (workload,) = [o for o in self.objects if o["kind"] in WORKLOAD_KINDS]
        return workload

    @property
    def pod(self) -> dict:
        return self.workload["spec"]["template"]["spec"]

    @property
    def container(self) -> dict:
        (container,) = self.pod["containers"]
        return container

    def volume(self, name: str) -> dict:
        (volume,) = [v for v in self.pod["volumes"] if v["name"] == name]
        return volume

    def mount(self, name: str) -> dict:
        (mount,) = [m for m in self.container["volumeMounts"] if m["name"] == name]
        return mount

    @property
    def test_pod(self) -> dict:
        (pod,) = [o for o in self.all("Pod") if o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
        return pod


_cache: dict[str, Rendered] = {}


def variant(name: str) -> Rendered:
    if name not in _cache:
        _cache[name] = Rendered(VARIANTS[name])
    return _cache[name]


def chart_name(values: dict) -> str:
    return values.get("nameOverride") or "smartlead-exporter"


def fullname(values: dict) -> str:
    return values.get("fullnameOverride") or f"{RELEASE}-{chart_name(values)}"


def env_value(container: dict, name: str):
    (entry,) = [e for e in container.get("env", []) if e["name"] == name]
    return entry


# --- every variant ----------------------------------------------------------------------------


def sharded(values: dict) -> bool:
    return int(values.get("sharding", {}).get("replicas", 1)) > 1


@pytest.mark.parametrize("name", VARIANTS)
def test_lint_strict_is_clean(name):
    # At the oldest Kubernetes the chart declares (1.28 with sharding, which needs it).
    oldest = "1.28.0" if sharded(VARIANTS[name]) else KUBE_VERSIONS[0]
    for kube_version in (None, f"v{oldest}"):
        report = helm.lint(CHART_DIR, VARIANTS[name], strict=True, namespace=NAMESPACE, kube_version=kube_version)
        assert report["total_charts_linted"] == 1
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 1] == []  # not even INFO


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VARIANTS)
def test_manifests_validate_strictly(name, kube_version):
    if sharded(VARIANTS[name]) and kube_version == KUBE_VERSIONS[0]:
        kube_version = "1.28.0"  # sharding needs the pod-index label
    validated = set()
    for obj in variant(name).objects:
        if obj["kind"] in OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} invalid for Kubernetes {kube_version}: "
                        f"{'.'.join(map(str, e.path))}: {e.message}")
        validated.add(obj["kind"])
    assert {"Service"} <= validated and validated & WORKLOAD_KINDS


@pytest.mark.parametrize("name", sorted(p.name for p in CI_DIR.glob("*-values.yaml")))
def test_every_ci_render_parses_with_a_strict_yaml_parser(name):
    # Every document of every template, as Helm renders it, without a duplicate key.
    values = yaml.safe_load((CI_DIR / name).read_text())
    for path, text in raw_render(values).items():
        if not path.endswith("NOTES.txt"):
            strict_load_all(text)
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        strict_load_all("a: 1\na: 2\n")


def test_dashboard_labels_merge_with_common_labels():
    # kube-prometheus-stack users often put the sidecar's label in commonLabels too: one key.
    values = {"smartlead": {"apiKey": API_KEY}, "commonLabels": {"grafana_dashboard": "1", "team": "growth"},
              "grafanaDashboard": {"enabled": True}}
    text = raw_render(values)["smartlead-exporter/templates/dashboard-configmap.yaml"]
    assert text.count("grafana_dashboard:") == 1
    (cm,) = strict_load_all(text)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1" and cm["metadata"]["labels"]["team"] == "growth"
    # A different value in each: the dashboard's wins; the chart's own labels stay.
    values["grafanaDashboard"]["labels"] = {"grafana_dashboard": "smartlead", "app.kubernetes.io/name": "x"}
    (cm,) = strict_load_all(raw_render(values)["smartlead-exporter/templates/dashboard-configmap.yaml"])
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "smartlead"
    assert cm["metadata"]["labels"]["app.kubernetes.io/name"] == "smartlead-exporter"


@pytest.mark.parametrize("name", VARIANTS)
def test_recommended_labels_on_every_object(name):
    values = VARIANTS[name]
    for obj in variant(name).objects:
        labels = obj["metadata"]["labels"]
        expected_name = chart_name(values) + ("-test" if obj["kind"] == "Pod" else "")
        assert labels["app.kubernetes.io/name"] == expected_name, obj["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, obj["kind"]
        assert labels["app.kubernetes.io/version"] == CHART_YAML["appVersion"], obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
        assert labels["helm.sh/chart"] == f"smartlead-exporter-{CHART_YAML['version']}", obj["kind"]
        assert (values.get("commonLabels") or {}).items() <= labels.items(), obj["kind"]
        if obj["kind"] == "ServiceMonitor":
            assert obj["metadata"]["namespace"] == (values["serviceMonitor"].get("namespace") or NAMESPACE)
        elif obj["kind"] == "PodMonitor":
            assert obj["metadata"]["namespace"] == (values["podMonitor"].get("namespace") or NAMESPACE)
        elif obj["kind"] == "PrometheusRule":
            assert obj["metadata"]["namespace"] == (values["prometheusRule"].get("namespace") or NAMESPACE)
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


@pytest.mark.parametrize("name", VARIANTS)
def test_pod_is_hardened(name):
    r = variant(name)
    pod = r.pod
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65534
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = r.container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 65534
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # Every mount of ours is read-only and whole (a subPath mount would freeze the file
    # that the exporter re-reads or reloads).
    for mount in r.container["volumeMounts"]:
        if mount["name"] != "scratch":  # everything's extraVolumeMounts
            assert mount["readOnly"] is True, mount
        assert "subPath" not in mount, mount


@pytest.mark.parametrize("name", VARIANTS)
def test_port_service_and_probes(name):
    r = variant(name)
    values = VARIANTS[name]
    c = r.container
    http_port = {"name": "http", "containerPort": 10072, "protocol": "TCP"}
    assert c["args"][0] == "--web.listen-address=:10072"
    tls = bool(values.get("webConfig", {}).get("tls") or "tls_server_config" in values.get("webConfig", {}).get("config", {}))
    if name in MTLS_VARIANTS:
        # The kubelet cannot present a client certificate: the probes go to the plain-HTTP
        # health listener, which serves /-/healthy and /-/ready only.
        assert c["ports"] == [http_port, {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
        assert f"--web.health-listen-address=:{HEALTH_PORT}" in c["args"]
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert live == {"path": "/-/healthy", "port": "health", "scheme": "HTTP"}
        assert ready == {"path": "/-/ready", "port": "health", "scheme": "HTTP"}
    else:
        assert c["ports"] == [http_port]
        assert not [a for a in c["args"] if a.startswith("--web.health-listen-address")]
        scheme = "HTTPS" if tls else "HTTP"
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert {k: live[k] for k in ("path", "port", "scheme")} == {"path": "/-/healthy", "port": "http", "scheme": scheme}
        assert {k: ready[k] for k in ("path", "port", "scheme")} == {"path": "/-/ready", "port": "http", "scheme": scheme}
    service = r.get("Service")
    assert service["metadata"]["name"] == fullname(values)
    assert service["spec"]["ports"] == [{"name": "http", "port": 10072, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == r.workload["spec"]["selector"]["matchLabels"]
    template_labels = r.workload["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()
    # The helm test pod must not be an endpoint of the Service it scrapes.
    if "Pod" in r.kinds():
        assert not service["spec"]["selector"].items() <= r.test_pod["metadata"]["labels"].items()


@pytest.mark.parametrize("name", VARIANTS)
def test_no_checksum_of_a_secret_or_the_accounts_file_restarts_the_pod(name):
    # Key files are re-read before every poll, the accounts file and the web config are
    # reloaded when they change: a checksum annotation would roll the pod for nothing.
    annotations = variant(name).workload["spec"]["template"]["metadata"].get("annotations") or {}
    assert [k for k in annotations if "checksum" in k] == (["checksum/ca-bundle"] if VARIANTS[name].get("smartlead", {}).get("caBundle") else [])


@pytest.mark.parametrize("name", VARIANTS)
def test_notes_render(name):
    notes = variant(name).notes
    assert f"port-forward service/{fullname(VARIANTS[name])}" in notes


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_image_flags_and_objects():
    r = variant("api-key")
    assert sorted((o["kind"], o["metadata"]["name"]) for o in r.objects) == [
        ("Deployment", FULLNAME), ("Pod", f"{FULLNAME}-test"), ("Secret", FULLNAME),
        ("Service", FULLNAME), ("ServiceAccount", FULLNAME)]
    deployment = r.get("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["revisionHistoryLimit"] == 3
    c = r.container
    assert c["image"] == f"smartlead-exporter:{CHART_YAML['appVersion']}"  # what scripts/image.sh tags
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["args"] == [
        "--web.listen-address=:10072",
        f"--smartlead.api-key-file={KEY_FILE}",
        "--smartlead.base-url=https://server.smartlead.ai/api/v1",
        "--poll.interval=60s",
        "--smartlead.account=default",
        "--collector.categories",
        "--collector.replies",
        "--collector.campaigns",
        "--collector.mailboxes",
        "--smartlead.allowed-hosts=server.smartlead.ai",
    ]
    assert "env" not in c and "envFrom" not in c
    assert c["livenessProbe"] == {"httpGet": {"path": "/-/healthy", "port": "http", "scheme": "HTTP"},
                                  "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    assert c["readinessProbe"] == {"httpGet": {"path": "/-/ready", "port": "http", "scheme": "HTTP"},
                                   "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 3}
    assert c["resources"]["limits"]["memory"]
    assert "envFrom" not in c
    assert r.pod["serviceAccountName"] == FULLNAME
    sa = r.get("ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    for absent in ("imagePullSecrets", "priorityClassName", "dnsConfig", "topologySpreadConstraints", "nodeSelector"):
        assert absent not in r.pod


def test_chart_metadata():
    assert CHART_YAML["appVersion"] == "0.1.0"
    for key in ("home", "sources", "icon", "kubeVersion", "description"):
        assert CHART_YAML.get(key), key
    # Only sharding needs 1.28 (it refuses an older cluster itself): 1.27 may install the rest.
    assert CHART_YAML["kubeVersion"] == ">=1.25.0-0"


def kube_version_allowed(version: str, tmp_path: Path) -> bool:
    """Whether Helm installs the chart on Kubernetes `version`: its kubeVersion constraint
    checked by Helm's own semver library (semverCompare, as `helm install` checks it)."""
    probe = tmp_path / "kube-version-probe"
    (probe / "templates").mkdir(parents=True, exist_ok=True)
    (probe / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "probe", "version": "0.1.0"}))
    (probe / "templates" / "check.yaml").write_text(
        "allowed: {{ semverCompare .Values.constraint .Values.version }}\n")
    with helm.Chart.load(probe) as chart:
        text = chart.render({"constraint": CHART_YAML["kubeVersion"], "version": version}, name="p", namespace="p")
    return yaml.safe_load(text["probe/templates/check.yaml"])["allowed"]


def test_kubernetes_1_27_installs_everything_but_sharding(tmp_path):
    # Only sharding needs 1.28 (the pod-index label; its templates refuse an older cluster,
    # naming it): the chart itself installs from 1.25 on, the oldest the tests validate.
    assert kube_version_allowed("v1.27.0", tmp_path)
    assert kube_version_allowed("v1.25.0", tmp_path) and kube_version_allowed("v1.27.3-gke.100", tmp_path)
    assert not kube_version_allowed("v1.24.9", tmp_path)
    for name, values in VARIANTS.items():
        if not sharded(values):
            report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version="v1.27.0")
            assert report["errors"] == [] and report["messages"] == [], (name, report)
    helpers = (CHART_DIR / "templates" / "_helpers.tpl").read_text()
    assert 'semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version' in helpers


# --- image, names, labels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "image,global_values,expected",
    [
        ({"repository": "registry.example/smartlead-exporter", "tag": "v9"}, {}, "registry.example/smartlead-exporter:v9"),
        ({"registry": "ghcr.io", "repository": "acme/smartlead-exporter"}, {}, "ghcr.io/acme/smartlead-exporter:0.1.0"),
        ({"registry": "ghcr.io", "repository": "acme/smartlead-exporter", "digest": "sha256:" + "a" * 64}, {},
         "ghcr.io/acme/smartlead-exporter:0.1.0@sha256:" + "a" * 64),
        ({"registry": "ghcr.io", "repository": "acme/smartlead-exporter"}, {"imageRegistry": "mirror.internal"},
         "mirror.internal/acme/smartlead-exporter:0.1.0"),
    ],
    ids=["repository-tag", "registry", "digest", "global-registry"],
)
def test_image_reference(image, global_values, expected):
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "image": image, "global": global_values})
    assert r.container["image"] == expected


def test_everything_names_images_and_pull_secrets():
    r = variant("everything")
    values = VARIANTS["everything"]
    assert r.container["image"] == f"registry.example.com/example/smartlead-exporter:0.1.0@{values['image']['digest']}"
    assert r.container["imagePullPolicy"] == "Always"
    assert r.test_pod["spec"]["containers"][0]["image"] == f"registry.example.com/library/busybox:1.37@{values['tests']['image']['digest']}"
    assert r.pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "global-regcred"}]
    assert r.test_pod["spec"]["imagePullSecrets"] == r.pod["imagePullSecrets"]
    assert r.workload["metadata"]["name"] == "smartlead-smartlead-metrics"


def test_service_account_values():
    r = variant("everything")
    sa = r.get("ServiceAccount")
    assert sa["metadata"]["name"] == "smartlead-reader" == r.pod["serviceAccountName"]
    assert sa["metadata"]["annotations"] == {"example.com/purpose": "none"}
    assert sa["automountServiceAccountToken"] is False
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "serviceAccount": {"create": False, "name": "", "automount": True}})
    assert "ServiceAccount" not in r.kinds()
    assert r.pod["serviceAccountName"] == "default"
    assert r.pod["automountServiceAccountToken"] is True


def test_common_and_pod_labels_never_replace_the_selector_labels():
    r = Rendered({"smartlead": {"apiKey": API_KEY},
                  "commonLabels": {"team": "growth", "app.kubernetes.io/name": "other"},
                  "podLabels": {"cost-center": "marketing", "app.kubernetes.io/instance": "other"}})
    selector = r.workload["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "smartlead-exporter", "app.kubernetes.io/instance": RELEASE}
    pod_labels = r.workload["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels["team"] == "growth" and pod_labels["cost-center"] == "marketing"
    for obj in r.objects:
        assert obj["metadata"]["labels"]["team"] == "growth"


def test_everything_pod_settings_reach_the_pod():
    r = variant("everything")
    values = VARIANTS["everything"]
    pod, c = r.pod, r.container
    meta = r.workload["spec"]["template"]["metadata"]
    assert meta["annotations"] == values["podAnnotations"]
    assert values["podLabels"].items() <= meta["labels"].items()
    assert pod["priorityClassName"] == "monitoring"
    assert pod["dnsConfig"] == values["dnsConfig"]
    assert pod["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert r.workload["spec"]["revisionHistoryLimit"] == 5
    assert c["resources"] == values["resources"]
    assert c["env"][1:] == values["extraEnv"]  # after SHARD
    assert c["volumeMounts"][-1] == values["extraVolumeMounts"][0]
    assert pod["volumes"][-1] == values["extraVolumes"][0]
    assert c["args"][-1] == "--log.format=json"
    # Probe overrides are merged over the chart's handler.
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/-/healthy", "port": "http", "scheme": "HTTPS",
                    "httpHeaders": [{"name": "X-Probe", "value": "liveness"}]},
        "initialDelaySeconds": 2, "periodSeconds": 15, "timeoutSeconds": 3, "failureThreshold": 4,
        "successThreshold": 1, "terminationGracePeriodSeconds": 10}
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/-/ready", "port": "http", "scheme": "HTTPS",
                    "httpHeaders": [{"name": "X-Probe", "value": "readiness"}]},
        "initialDelaySeconds": 1, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6, "successThreshold": 1}
    service = r.get("Service")
    assert service["metadata"]["annotations"] == values["service"]["annotations"]
    assert service["metadata"]["labels"]["scrape-tier"] == "business"


def test_probe_handler_can_be_replaced():
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20}})
    assert r.container["livenessProbe"] == {"tcpSocket": {"port": "http"}, "periodSeconds": 20,
                                            "timeoutSeconds": 5, "failureThreshold": 3}


def test_https_proxy_through_extra_env():
    r = variant("ca-bundle")
    assert r.container["env"] == VARIANTS["ca-bundle"]["extraEnv"]
    assert env_value(r.container, "HTTPS_PROXY")["value"] == "http://proxy.example.internal:3128"


# --- single account: exactly one of apiKey and existingSecret --------------------------------


@pytest.mark.parametrize("name", ["api-key", "existing-secret", "monitoring", "tuning", "web-config", "ca-bundle", *sorted(MTLS_VARIANTS)])
def test_single_account_key_arrives_as_a_mounted_secret_file(name):
    r = variant(name)
    values = VARIANTS[name]
    c = r.container
    assert f"--smartlead.api-key-file={KEY_FILE}" in c["args"]
    assert not any(a.startswith(("--config.file", "--shard", "--total-shards")) for a in c["args"])
    assert not any(e["name"].startswith("SMARTLEAD_API_KEY") for e in c.get("env", []))
    assert "envFrom" not in c
    mount = r.mount("api-key")
    assert mount == {"name": "api-key", "mountPath": str(Path(KEY_FILE).parent), "readOnly": True}
    volume = r.volume("api-key")
    smartlead = values["smartlead"]
    if smartlead.get("existingSecret"):
        assert not [s for s in r.all("Secret") if s["metadata"]["name"] == FULLNAME]
        assert volume["secret"]["secretName"] == smartlead["existingSecret"]
        expected_key = smartlead.get("existingSecretKey", "api-key")
    else:
        secret = r.get("Secret", FULLNAME)
        assert volume["secret"]["secretName"] == FULLNAME
        assert base64.b64decode(secret["data"]["api-key"]).decode() == smartlead["apiKey"]
        expected_key = "api-key"
    assert volume["secret"] == {"secretName": volume["secret"]["secretName"], "defaultMode": 0o440,
                                "items": [{"key": expected_key, "path": "api-key"}]}


def test_api_keys_are_never_literals_outside_their_secrets():
    values = {"smartlead": {"apiKey": API_KEY}, "serviceMonitor": {"enabled": True},
              "prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}
    accounts = {"accounts": [{"name": "acme", "apiKey": ACCOUNT_KEY}, {"name": "globex", "existingSecret": "s"}],
                "sharding": {"replicas": 2}}
    for vals, key, secret_file in [(values, API_KEY, "secret.yaml"), (accounts, ACCOUNT_KEY, "accounts.yaml")]:
        encoded = base64.b64encode(key.encode()).decode()
        for path, text in raw_render(vals).items():
            assert key not in text, path
            if not path.endswith(secret_file):
                assert encoded not in text, path
        assert encoded in raw_render(vals)[f"smartlead-exporter/templates/{secret_file}"]


@pytest.mark.parametrize(
    "values,message",
    [
        ({"smartlead": {}}, "no SmartLead API key configured"),
        ({"smartlead": {"apiKey": ""}}, "no SmartLead API key configured"),
        ({"smartlead": {"apiKey": API_KEY, "existingSecret": "mine"}}, "both smartlead.apiKey and smartlead.existingSecret are set"),
    ],
    ids=["neither", "empty-key", "both"],
)
def test_key_misconfiguration_fails_with_a_clear_message(values, message):
    with pytest.raises(helm.HelmRenderError) as excinfo:
        raw_render(values)
    text = str(excinfo.value)
    assert message in text
    assert "smartlead.existingSecret=" in text and "smartlead.apiKey=" in text


def test_existing_secret_default_key_name():
    r = Rendered({"smartlead": {"existingSecret": "smartlead-api-key"}})
    assert r.volume("api-key")["secret"] == {"secretName": "smartlead-api-key", "defaultMode": 0o440,
                                             "items": [{"key": "api-key", "path": "api-key"}]}


def test_tuning_values_reach_the_pod():
    values = VARIANTS["tuning"]
    r = variant("tuning")
    c = r.container
    assert c["args"][-len(values["extraArgs"]):] == values["extraArgs"]
    assert "--poll.interval=2m" in c["args"]
    assert "--smartlead.account=acme" in c["args"]
    assert f"--smartlead.base-url={values['smartlead']['baseUrl']}" in c["args"]
    assert c["resources"] == values["resources"]
    # The collectors and the budget, as the single account's flags; the keys go to the base
    # URL's host only.
    flags = c["args"][c["args"].index("--smartlead.account=acme") + 1:-len(values["extraArgs"])]
    assert flags == ["--collector.categories", "--collector.replies", "--collector.replies.interval=30m",
                     "--collector.campaigns", "--collector.campaigns.interval=10m", "--no-collector.mailboxes",
                     "--collector.campaigns.statuses=ACTIVE,PAUSED,STOPPED", "--smartlead.max-calls-per-minute=30",
                     "--smartlead.max-calls-per-hour=800", "--smartlead.allowed-hosts=smartlead.example.internal"]


@pytest.mark.parametrize(
    "smartlead,expected",
    [
        ({"baseUrl": "https://Server.SmartLead.ai:443/api/v1"}, "server.smartlead.ai"),
        ({"baseUrl": "http://[::1]:8080/api/v1"}, "[::1]"),
        ({"baseUrl": "http://127.0.0.1:8080/api/v1", "allowedHosts": ["a.example", "127.0.0.1"]}, "127.0.0.1,a.example"),
        ({"baseUrl": ""}, "server.smartlead.ai"),
    ],
    ids=["case-and-port", "ipv6", "added-hosts-once", "exporter-default"],
)
def test_allowed_hosts_are_the_hosts_of_the_base_urls(smartlead, expected, tmp_path):
    r = Rendered({"smartlead": {"apiKey": API_KEY, **smartlead}})
    assert f"--smartlead.allowed-hosts={expected}" in r.container["args"]
    result = _exporter_check(r, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "values,args,defaults",
    [
        ({"smartlead": {"apiKey": API_KEY, "collectors": {"categories": {"interval": "2m"}}}},
         ["--collector.categories", "--collector.categories.interval=2m"], None),
        ({"smartlead": {"collectors": {"categories": {"interval": "2m"}}}, "accounts": [{"name": "a", "apiKey": "k"}]},
         [], {"collectors": {"categories": {"enabled": True, "interval": "2m"}}}),
        ({"accounts": [{"name": "a", "apiKey": "k"}], "accountDefaults": {"collectors": {"categories": {"interval": "3m"}}}},
         [], {"collectors": {"categories": {"enabled": True, "interval": "3m"}}}),
        ({"smartlead": {"collectors": {"categories": {"interval": "2m"}}}, "accounts": [{"name": "a", "apiKey": "k"}],
          "accountDefaults": {"pollInterval": "3m"}},
         [], {"poll_interval": "3m", "collectors": {"categories": {"enabled": True}}}),
    ],
    ids=["single-account", "smartlead-defaults", "account-defaults", "account-defaults-poll-interval"],
)
def test_the_categories_interval_is_given_once(values, args, defaults, tmp_path):
    # pollInterval and collectors.categories.interval are one setting: the exporter refuses two
    # different values at one level, so the chart passes the one that wins, and the exporter
    # accepts the result.
    r = Rendered(values)
    if defaults is None:
        assert not [a for a in r.container["args"] if a.startswith("--poll.interval")]
        for arg in args:
            assert arg in r.container["args"]
    else:
        config = yaml.safe_load(r.get("ConfigMap", f"{FULLNAME}-config")["data"]["config.yaml"])
        assert config["defaults"].get("poll_interval") == defaults.get("poll_interval")
        assert config["defaults"]["collectors"]["categories"] == defaults["collectors"]["categories"]
    result = _exporter_check(r, tmp_path)
    assert result.returncode == 0, result.stderr


# --- many accounts -----------------------------------------------------------------------------


def test_accounts_render_the_config_file_and_mount_each_key():
    r = variant("accounts")
    c = r.container
    # The keys may go to the host of every base URL and to smartlead.allowedHosts, and must lie
    # under the mounted key directory.
    assert c["args"] == ["--web.listen-address=:10072", f"--config.file={CONFIG_FILE}", "--smartlead.key-dir=/secrets",
                         "--smartlead.allowed-hosts=server.smartlead.ai,eu.smartlead.example,smartlead-proxy.example.internal"]
    config_map = r.get("ConfigMap", f"{FULLNAME}-config")
    assert list(config_map["data"]) == ["config.yaml"]
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == {
        "defaults": {"base_url": "https://server.smartlead.ai/api/v1", "poll_interval": "60s", "timeout": "15s",
                     "collectors": {"categories": {"enabled": True}, "replies": {"enabled": True},
                                    "campaigns": {"enabled": True}, "mailboxes": {"enabled": False}}},
        "accounts": [
            {"name": "acme", "api_key_file": "/secrets/acme/api-key"},
            {"name": "globex", "api_key_file": "/secrets/globex/api-key",
             "base_url": "https://server.smartlead.ai/api/v1", "global_max_id": 99, "max_body_size": "32MiB"},
            {"name": "initech", "api_key_file": "/secrets/initech/api-key", "poll_interval": "5m", "timeout": "20s",
             "max_backoff": "30m", "stale_after": "20m",
             "collectors": {"campaigns": {"interval": "15m"}, "mailboxes": {"enabled": True}},
             "campaign_statuses": ["ACTIVE"], "max_calls_per_minute": 40, "max_calls_per_hour": 1000},
            {"name": "umbrella", "api_key_file": "/secrets/umbrella/api-key",
             "base_url": "https://eu.smartlead.example:8443/api/v1", "collectors": {"categories": {"interval": "2m"}}},
        ],
    }
    # The config directory is mounted whole: the exporter sees the kubelet's ..data swap.
    assert r.mount("config") == {"name": "config", "mountPath": str(Path(CONFIG_FILE).parent), "readOnly": True}
    assert r.volume("config") == {"name": "config", "configMap": {"name": f"{FULLNAME}-config"}}
    assert r.mount("account-keys") == {"name": "account-keys", "mountPath": "/secrets", "readOnly": True}
    assert r.volume("account-keys")["projected"] == {
        "defaultMode": 0o440,
        "sources": [
            {"secret": {"name": "smartlead-acme", "items": [{"key": "api-key", "path": "acme/api-key"}]}},
            {"secret": {"name": "smartlead-keys", "items": [{"key": "globex", "path": "globex/api-key"}]}},
            {"secret": {"name": f"{FULLNAME}-accounts", "items": [{"key": "initech", "path": "initech/api-key"}]}},
            {"secret": {"name": "smartlead-keys", "items": [{"key": "umbrella", "path": "umbrella/api-key"}]}},
        ],
    }
    secret = r.get("Secret", f"{FULLNAME}-accounts")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"initech": "ci-test-key-not-a-real-one"}
    assert not [s for s in r.all("Secret") if s["metadata"]["name"] == FULLNAME]  # no single-account Secret
    assert "api-key" not in {v["name"] for v in r.pod["volumes"]}
    assert r.workload["kind"] == "Deployment"


def test_accounts_with_only_existing_secrets_make_no_secret():
    r = Rendered({"accounts": [{"name": "acme", "existingSecret": "smartlead-acme"}]})
    assert "Secret" not in r.kinds()


def test_account_names_stay_strings_in_the_accounts_file():
    # Names such as 123 or null are valid account names and must not turn into a number or a
    # null when the exporter parses the file.
    r = Rendered({"accounts": [{"name": "123", "apiKey": "k1"}, {"name": "null", "existingSecret": "s"}]})
    config = yaml.safe_load(r.get("ConfigMap")["data"]["config.yaml"])
    assert [a["name"] for a in config["accounts"]] == ["123", "null"]
    assert list(r.get("Secret")["data"]) == ["123"]


def test_everything_account_settings_and_defaults():
    r = variant("everything")
    config = yaml.safe_load(r.get("ConfigMap", "smartlead-smartlead-metrics-config")["data"]["config.yaml"])
    # accountDefaults over smartlead's settings, setting by setting; its poll interval, given both
    # ways, replaces smartlead.collectors.categories.interval.
    assert config["defaults"] == {
        "poll_interval": "2m", "timeout": "15s", "base_url": "https://server.smartlead.ai/api/v1",
        "global_max_id": 99, "max_body_size": "16MiB", "max_backoff": "10m", "stale_after": "10m",
        "collectors": {"categories": {"enabled": True, "interval": "2m"}, "replies": {"enabled": True, "interval": "20m"},
                       "campaigns": {"enabled": True, "interval": "10m"}, "mailboxes": {"enabled": False, "interval": "2h"}},
        "campaign_statuses": ["ACTIVE", "PAUSED"], "max_calls_per_minute": 20, "max_calls_per_hour": 600}
    assert config["accounts"][0] == {
        "name": "acme", "api_key_file": "/secrets/acme/api-key", "poll_interval": "90s",
        "timeout": "20s", "base_url": "https://server.smartlead.ai/api/v1", "global_max_id": 120,
        "max_body_size": "32MiB", "max_backoff": "20m", "stale_after": "15m",
        "collectors": {"campaigns": {"enabled": True, "interval": "15m"}, "mailboxes": {"enabled": True}},
        "campaign_statuses": ["ACTIVE"], "max_calls_per_minute": 60, "max_calls_per_hour": 1000}
    assert "--smartlead.allowed-hosts=server.smartlead.ai,smartlead-proxy.example.internal" in r.container["args"]


@pytest.mark.parametrize(
    "values,error,message",
    [
        ({"accounts": [{"name": "acme", "existingSecret": "a"}, {"name": "acme", "apiKey": "k"}]},
         helm.HelmRenderError, 'the name "acme" is used twice'),
        ({"accounts": [{"name": "acme", "existingSecret": "a", "apiKey": "k"}]}, helm.HelmValuesError, "/accounts/0"),
        ({"accounts": [{"name": "acme"}]}, helm.HelmValuesError, "/accounts/0"),
        ({"accounts": [{"name": "Acme Corp", "apiKey": "k"}]}, helm.HelmValuesError, "/accounts/0/name"),
        ({"accounts": [{"name": "acme", "apiKey": "k", "poll_interval": "1m"}]}, helm.HelmValuesError, "'poll_interval' not allowed"),
        ({"accounts": [{"name": "acme", "apiKey": "k"}], "smartlead": {"apiKey": API_KEY}}, helm.HelmRenderError,
         "with `accounts`, give each account its own existingSecret or apiKey"),
        ({"smartlead": {"apiKey": API_KEY}, "sharding": {"replicas": 3}}, helm.HelmRenderError,
         "sharding.replicas > 1 splits `accounts` between replicas"),
        ({"smartlead": {"apiKey": API_KEY}, "sharding": {"replicas": 0}}, helm.HelmValuesError, "/sharding/replicas"),
    ],
    ids=["duplicate", "two-key-sources", "no-key-source", "bad-name", "snake-case-setting", "single-and-many",
         "sharding-without-accounts", "zero-replicas"],
)
def test_accounts_misconfiguration_fails_with_a_clear_message(values, error, message):
    with pytest.raises(error) as excinfo:
        raw_render(values)
    assert message in str(excinfo.value)


# --- the exporter accepts what the chart renders --------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, and a server certificate and key it signed (openssl), for the web config's TLS."""
    work = tmp_path_factory.mktemp("pki")
    webconfig.make_pki(work)
    return work


def _secret_files(r: Rendered, volume: dict, pki: Path | None) -> dict[str, str]:
    """The files of a whole-Secret volume: the chart's own web config Secret as rendered, the
    TLS Secret (webConfig.tlsSecret) from `pki`, or, for webConfig.existingSecret, a web config
    requiring client certificates whose relative paths name files beside it."""
    name = volume["secret"]["secretName"]
    web = r.values.get("webConfig", {})
    if name == web.get("tlsSecret"):
        assert pki, "a TLS Secret needs certificates"
        return {"tls.crt": (pki / "server.crt").read_text(), "tls.key": (pki / "server.key").read_text(),
                "ca.crt": (pki / "ca.crt").read_text()}
    if name == web.get("existingSecret"):
        assert pki, "a web config Secret needs certificates"
        config = {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", "client_ca_file": "ca.crt",
                                        "client_auth_type": "RequireAndVerifyClientCert"}}
        return {web.get("existingSecretKey", "web-config.yml"): yaml.safe_dump(config),
                **{f: (pki / f).read_text() for f in ("server.crt", "server.key", "ca.crt")}}
    secret = r.get("Secret", name)
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def _exporter_check(r: Rendered, tmp_path: Path, shard: int = 0, pki: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the exporter binary with the container's args plus --config.check, the pod's
    files (keys, accounts file, web config and certificates) laid out under tmp_path, as the
    kubelet would mount them."""
    root = tmp_path / "pod"

    def local(path: str) -> str:
        return str(root / path.lstrip("/"))

    for cm in r.all("ConfigMap"):
        if cm["metadata"]["name"].endswith("-config"):
            config = cm["data"]["config.yaml"].replace("api_key_file: /secrets/", f"api_key_file: {local('/secrets')}/")
            Path(local(CONFIG_FILE)).parent.mkdir(parents=True, exist_ok=True)
            Path(local(CONFIG_FILE)).write_text(config)
    for mount in r.container["volumeMounts"]:
        volume = r.volume(mount["name"])
        items = [(item["path"], "key-" + item["path"].replace("/", "-"))
                 for source in volume.get("projected", {}).get("sources", []) for item in source["secret"]["items"]]
        items += [(item["path"], "key") for item in volume.get("secret", {}).get("items", [])]
        if "secret" in volume and "items" not in volume["secret"]:
            # Absolute paths in a web config name other mounts: under the same root here.
            items += [(path, content.replace("/etc/smartlead-exporter/", local("/etc/smartlead-exporter") + "/"))
                      for path, content in _secret_files(r, volume, pki).items()]
        for path, content in items:
            target = Path(local(mount["mountPath"])) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    args = []
    for arg in r.container["args"]:
        arg = arg.replace("$(SHARD)", str(shard))
        name, _, value = arg.partition("=")
        if value.startswith("/"):
            arg = f"{name}={local(value)}"
        args.append(arg)
    return subprocess.run([str(exporter_binary()), *args, "--config.check"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("name", ["api-key", "existing-secret", "tuning", "accounts", "sharding", "web-config",
                                  *sorted(MTLS_VARIANTS)])
def test_exporter_accepts_the_rendered_args_and_files(name, tmp_path, pki):
    r = variant(name)
    shards = r.workload["spec"]["replicas"] if r.workload["kind"] == "StatefulSet" else 1
    polled = 0
    for shard in range(shards):
        result = _exporter_check(r, tmp_path / str(shard), shard, pki)
        assert result.returncode == 0, f"shard {shard}: {result.stdout}{result.stderr}"
        if "accounts" in VARIANTS[name]:
            found = re.search(r"(\d+) accounts, (\d+) polled by shard (\d+) of (\d+)", result.stdout)
            assert found, result.stdout
            total, mine, index, of = map(int, found.groups())
            assert (total, index, of) == (len(VARIANTS[name]["accounts"]), shard, shards)
            polled += mine
    if "accounts" in VARIANTS[name]:
        assert polled == len(VARIANTS[name]["accounts"])  # each account in exactly one shard


def test_exporter_refuses_a_broken_render(tmp_path):
    # The check above can fail: a shard beyond --total-shards is refused, naming the flag.
    r = variant("sharding")
    result = _exporter_check(r, tmp_path / "a", shard=3)
    assert result.returncode == 2
    assert "--shard" in result.stderr
    # A key file the chart did not mount is refused, naming the account.
    r = Rendered(VARIANTS["accounts"])
    r.volume("account-keys")["projected"]["sources"].pop(0)
    result = _exporter_check(r, tmp_path / "b")
    assert result.returncode == 2
    assert 'account "acme": api_key_file: cannot read the API key file' in result.stderr


# --- sharding ----------------------------------------------------------------------------------


def test_sharding_renders_a_statefulset_whose_pods_take_their_shard_from_the_pod_index():
    r = variant("sharding")
    assert "Deployment" not in r.kinds()
    sts = r.get("StatefulSet", FULLNAME)
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["serviceName"] == r.get("Service")["metadata"]["name"]
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "smartlead-exporter", "app.kubernetes.io/instance": RELEASE}
    c = r.container
    assert c["args"] == ["--web.listen-address=:10072", f"--config.file={CONFIG_FILE}", "--smartlead.key-dir=/secrets",
                         "--smartlead.allowed-hosts=server.smartlead.ai", "--shard=$(SHARD)", "--total-shards=3"]
    # Kubernetes expands $(SHARD) in args from the env var, set from the label the
    # StatefulSet controller puts on each pod (1.28+).
    assert c["env"] == [{"name": "SHARD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}}}]
    # Every pod is behind the one Service that the ServiceMonitor selects.
    sm = r.get("ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert len(r.all("Service")) == 1
    # Each pod mounts every account's key: the shard decides which it polls.
    sources = r.volume("account-keys")["projected"]["sources"]
    assert [s["secret"]["items"][0]["path"] for s in sources] == [f"{a['name']}/api-key" for a in VARIANTS["sharding"]["accounts"]]


# --- web config --------------------------------------------------------------------------------


def test_web_config_is_a_secret_mounted_as_a_file_and_probes_use_https():
    r = variant("web-config")
    values = VARIANTS["web-config"]
    c = r.container
    web_file = "/etc/smartlead-exporter/web/web-config.yml"
    assert c["args"][-2:] == [f"--web.config.file={web_file}", "--web.health-unauthenticated"]
    secret = r.get("Secret", f"{FULLNAME}-web-config")
    assert list(secret["data"]) == ["web-config.yml"]
    assert yaml.safe_load(base64.b64decode(secret["data"]["web-config.yml"])) == values["webConfig"]["config"]
    assert r.mount("web-config") == {"name": "web-config", "mountPath": str(Path(web_file).parent), "readOnly": True}
    assert r.volume("web-config") == {"name": "web-config", "secret": {"secretName": f"{FULLNAME}-web-config", "defaultMode": 0o440}}
    assert r.mount("web-tls") == {"name": "web-tls", "mountPath": "/etc/smartlead-exporter/tls", "readOnly": True}
    assert r.volume("web-tls") == {"name": "web-tls", "secret": {"secretName": "smartlead-exporter-tls", "defaultMode": 0o440}}
    assert c["livenessProbe"]["httpGet"]["scheme"] == c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (endpoint,) = r.get("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == values["serviceMonitor"]["tlsConfig"]
    assert endpoint["basicAuth"] == values["serviceMonitor"]["basicAuth"]
    # The test pod fetches only the unauthenticated endpoints, over HTTPS.
    script = r.test_pod["spec"]["containers"][0]["command"][2]
    assert f"--no-check-certificate -O /dev/null https://{FULLNAME}.{NAMESPACE}.svc:10072/-/ready" in script
    assert "/metrics" not in script.replace("/metrics needs", "")


def test_web_config_from_an_existing_secret():
    r = Rendered({"smartlead": {"existingSecret": "k"},
                  "webConfig": {"existingSecret": "my-web", "existingSecretKey": "web.yml", "tls": True}})
    assert "--web.config.file=/etc/smartlead-exporter/web/web.yml" in r.container["args"]
    assert r.volume("web-config")["secret"]["secretName"] == "my-web"
    assert not [s for s in r.all("Secret") if s["metadata"]["name"].endswith("web-config")]
    assert r.container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    # Basic auth without TLS: plain HTTP probes, still unauthenticated.
    r = Rendered({"smartlead": {"existingSecret": "k"},
                  "webConfig": {"config": {"basic_auth_users": {"prometheus": "$2b$10$x"}}}})
    assert "--web.health-unauthenticated" in r.container["args"]
    assert r.container["readinessProbe"]["httpGet"]["scheme"] == "HTTP"


@pytest.mark.parametrize("name", sorted(MTLS_VARIANTS))
def test_mutual_tls_probes_use_the_plain_health_listener_and_no_test_pod(name):
    r = variant(name)
    assert "Pod" not in r.kinds()
    assert "--web.health-unauthenticated" in r.container["args"]
    # The health port is for the kubelet alone: the Service and the monitors keep to `http`.
    assert [p["name"] for p in r.get("Service")["spec"]["ports"]] == ["http"]
    r = Rendered({**VARIANTS[name], "webConfig": {**VARIANTS[name]["webConfig"], "healthPort": 9999}})
    assert "--web.health-listen-address=:9999" in r.container["args"]
    assert r.container["ports"][1]["containerPort"] == 9999


def test_client_certificates_not_required_keep_the_probes_on_http():
    for client_auth in ("VerifyClientCertIfGiven", "RequestClientCert", "NoClientCert"):
        r = Rendered(_mtls(client_auth))
        assert r.container["livenessProbe"]["httpGet"]["port"] == "http"
        assert r.container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
        assert not [a for a in r.container["args"] if a.startswith("--web.health-listen-address")]


def test_web_config_both_sources_fail():
    with pytest.raises(helm.HelmRenderError) as excinfo:
        raw_render({"smartlead": {"existingSecret": "k"},
                    "webConfig": {"existingSecret": "w", "config": {"basic_auth_users": {"a": "b"}}}})
    assert "webConfig.config" in str(excinfo.value) and "not both" in str(excinfo.value)


# --- CA bundle ---------------------------------------------------------------------------------


def test_ca_bundle_is_a_config_map_mounted_as_a_file():
    r = variant("ca-bundle")
    values = VARIANTS["ca-bundle"]
    assert r.container["args"][-1] == f"--smartlead.ca-file={CA_FILE}"
    cm = r.get("ConfigMap", f"{FULLNAME}-ca-bundle")
    assert cm["data"] == {"ca.crt": values["smartlead"]["caBundle"].strip() + "\n"}
    assert r.mount("ca-bundle") == {"name": "ca-bundle", "mountPath": str(Path(CA_FILE).parent), "readOnly": True}
    assert r.volume("ca-bundle") == {"name": "ca-bundle", "configMap": {"name": f"{FULLNAME}-ca-bundle",
                                                                        "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    # The CA is read at start-up: a new bundle rolls the pod.
    annotations = r.workload["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/ca-bundle"])


def test_ca_bundle_from_an_existing_config_map():
    r = variant("everything")
    assert f"--smartlead.ca-file={CA_FILE}" in r.container["args"]
    assert r.volume("ca-bundle")["configMap"] == {"name": "corporate-proxy-ca", "items": [{"key": "ca-bundle.pem", "path": "ca.crt"}]}
    assert not [cm for cm in r.all("ConfigMap") if cm["metadata"]["name"].endswith("ca-bundle")]
    with pytest.raises(helm.HelmRenderError, match="not both"):
        raw_render({"smartlead": {"existingSecret": "k", "existingCaBundleConfigMap": "x",
                                  "caBundle": VARIANTS["ca-bundle"]["smartlead"]["caBundle"]}})
    with pytest.raises(helm.HelmValuesError, match="/smartlead/caBundle"):
        raw_render({"smartlead": {"existingSecret": "k", "caBundle": "/etc/ssl/ca.pem"}})


# --- NetworkPolicy ----------------------------------------------------------------------------


def test_network_policy():
    r = variant("everything")
    values = VARIANTS["everything"]
    policy = r.get("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == r.workload["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    test_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE,
                                                 "app.kubernetes.io/name": "smartlead-metrics-test"}}}
    assert test_peer["podSelector"]["matchLabels"].items() <= r.test_pod["metadata"]["labels"].items()
    namespaces = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                  for ns in values["networkPolicy"]["ingressNamespaces"]]
    assert policy["spec"]["ingress"] == [{"from": namespaces + values["networkPolicy"]["ingressFrom"] + [test_peer],
                                          "ports": [{"port": "http", "protocol": "TCP"}]}]
    assert policy["spec"]["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"ports": [{"port": 443, "protocol": "TCP"}]},
        *values["networkPolicy"]["extraEgress"],
    ]
    # Nobody named: no ingress at all, never an empty `from` (which would allow everyone).
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "tests": {"enabled": False},
                  "networkPolicy": {"enabled": True, "ingressNamespaces": [], "ingressFrom": []}})
    assert r.get("NetworkPolicy")["spec"]["ingress"] == []


def test_network_policy_admits_the_monitoring_namespace_by_default():
    # Every pod of the namespace, whatever scrapes: Prometheus, vmagent, Grafana Alloy,
    # Prometheus Agent. No pod selector narrows it to one kind of scraper.
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "tests": {"enabled": False}, "networkPolicy": {"enabled": True}})
    assert r.get("NetworkPolicy")["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    values = VARIANTS["everything"]["networkPolicy"]
    peers = variant("everything").get("NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert peers[:len(values["ingressNamespaces"])] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in values["ingressNamespaces"]]


# --- helm test --------------------------------------------------------------------------------


def test_helm_test_pod_scrapes_ready_and_metrics():
    r = variant("api-key")
    pod = r.test_pod
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (c,) = spec["containers"]
    assert c["image"] == "docker.io/library/busybox:1.37"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["command"][:2] == ["sh", "-c"]
    base = f"http://{FULLNAME}.{NAMESPACE}.svc:10072"
    assert f"wget -q -T 10 -O /dev/null {base}/-/ready" in c["command"][2]
    assert f"wget -q -T 10 -O /tmp/metrics {base}/metrics" in c["command"][2]
    assert "grep '^smartlead_up' /tmp/metrics" in c["command"][2]
    assert "Pod" not in Rendered({"smartlead": {"apiKey": API_KEY}, "tests": {"enabled": False}}).kinds()


def test_helm_test_script_runs_against_a_stand_in(tmp_path):
    # The script is plain POSIX sh: run it with this machine's sh, with wget replaced by a
    # function that serves canned answers, to prove the control flow (retry, grep) works.
    script = variant("api-key").test_pod["spec"]["containers"][0]["command"][2]
    metrics = "smartlead_exporter_build_info{version=\"0.1.0\"} 1\nsmartlead_up{account=\"default\"} 1\n"
    prelude = f"""
wget() {{
  out=/dev/null
  while [ $# -gt 1 ]; do case "$1" in -O) out="$2"; shift 2;; *) shift;; esac; done
  case "$1" in
    */-/ready) n=$(cat {tmp_path}/n 2>/dev/null || echo 0); echo $((n+1)) > {tmp_path}/n; [ "$n" -ge 2 ] ;;
    */metrics) printf '%s' '{metrics}' > "$out" ;;
  esac
}}
sleep() {{ :; }}
"""
    script = script.replace("/tmp/metrics", str(tmp_path / "metrics"))
    result = subprocess.run(["sh", "-c", prelude + script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "n").read_text().strip() == "3"  # two 503s, then 200
    assert 'smartlead_up{account="default"} 1' in result.stdout
    bad = prelude.replace("smartlead_up{account", "other{account")
    assert subprocess.run(["sh", "-c", bad + script.replace(str(tmp_path / "n"), str(tmp_path / "m"))],
                          capture_output=True, text=True, timeout=30).returncode != 0


# --- schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values,where",
    [
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"serviceMonitor": {"enable": True}}, "'enable' not allowed"),
        ({"serviceMonitor": {"scheme": "ftp"}}, "/serviceMonitor/scheme"),
        ({"prometheusRule": {"severity": {"SmartLeadAPIDown": "page"}}}, "/prometheusRule/severity/SmartLeadAPIDown"),
        ({"prometheusRule": {"jobMatcher": "smartlead"}}, "/prometheusRule/jobMatcher"),
        ({"prometheusRule": {"jobMatcher": 'job=~".*smartlead.*"'}}, "/prometheusRule/jobMatcher"),
        ({"smartlead": {"pollInterval": "often"}}, "/smartlead/pollInterval"),
        ({"extraArgs": ["debug"]}, "/extraArgs/0"),
        ({"extraEnv": [{"value": "x"}]}, "/extraEnv/0"),
        ({"webConfig": {"config": {"tls_config": {}}}}, "'tls_config' not allowed"),
        ({"networkPolicy": {"ingress": []}}, "'ingress' not allowed"),
    ],
    ids=["pull-policy", "digest", "typo", "scheme", "severity", "job-matcher", "job-regex", "duration", "flag", "env", "web-config-key", "netpol-typo"],
)
def test_schema_rejects_bad_values(values, where):
    values = {**values, "smartlead": {"apiKey": API_KEY, **values.get("smartlead", {})}}
    with pytest.raises(helm.HelmValuesError) as excinfo:
        raw_render(values)
    assert where in str(excinfo.value)


def _schema_leaves(node: dict, stop: set[str], prefix: str = "") -> set[str]:
    """Dotted paths of the schema's keys, down to the objects in `stop` and those the chart
    passes through as they are (no closed list of properties)."""
    props = node.get("properties")
    if not props or node.get("additionalProperties") is not False or prefix in stop:
        return {prefix}
    paths = set()
    for key, child in props.items():
        paths |= _schema_leaves(child, stop, f"{prefix}.{key}" if prefix else key)
    return paths


def _has_path(values, path: str) -> bool:
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def eval_path(values, path: str):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


PASSED_THROUGH = {"webConfig.config", "serviceMonitor.basicAuth", "podMonitor.basicAuth"}
GLOBAL_KEYS = {f"global.{k}" for k in SCHEMA["properties"]["global"]["properties"]}
# The keys of the values table (and of values.yaml): objects of Kubernetes' own types are one row.
TABLE_KEYS = (_schema_leaves(SCHEMA, PASSED_THROUGH | {"livenessProbe", "readinessProbe", "dnsConfig", "resources", "accountDefaults",
                                                        "smartlead.collectors"})
              - {"global"}) | GLOBAL_KEYS
# Every key, down to each setting.
SCHEMA_KEYS = (_schema_leaves(SCHEMA, PASSED_THROUGH) - {"global"}) | GLOBAL_KEYS
# Alternatives of one choice: set in the other ci/ files (or tests here), never together.
EXCLUSIVE = {"smartlead.apiKey", "smartlead.existingSecret", "smartlead.caBundle", "webConfig.config"}
# Handlers that replace httpGet: test_probe_handler_can_be_replaced, test_chart_schema.py.
PROBE_HANDLERS = {f"{p}.{h}" for p in ("livenessProbe", "readinessProbe") for h in ("tcpSocket", "exec", "grpc")}


def test_values_yaml_has_a_default_for_every_schema_key():
    assert sorted(k for k in TABLE_KEYS if not _has_path(DEFAULT_VALUES, k)) == []


def test_everything_variant_sets_every_schema_key():
    everything = VARIANTS["everything"]
    missing = sorted(k for k in SCHEMA_KEYS - PROBE_HANDLERS if not _has_path(everything, k))
    assert missing == []
    # Each alternative is set (non-empty) in some ci/ file; everything leaves them empty.
    for key in sorted(EXCLUSIVE):
        assert not eval_path(everything, key), key
        assert any(eval_path(v, key) for n, v in VARIANTS.items() if n != "everything"), key
    account_keys = set(SCHEMA["properties"]["accounts"]["items"]["properties"])
    set_keys = set().union(*(a.keys() for a in everything["accounts"]))
    assert account_keys - {"apiKey"} <= set_keys and "apiKey" in set_keys


def test_chart_readme_documents_every_value():
    readme = helm.show(str(CHART_DIR), output_format="readme")
    assert readme.rstrip("\n") == (CHART_DIR / "README.md").read_text().rstrip("\n")
    rows = set(re.findall(r"^\| `([^`]+)` \|", readme, re.M))
    assert sorted(TABLE_KEYS - rows) == []
    assert sorted(rows - TABLE_KEYS) == []


# --- Prometheus Operator objects and the dashboard -------------------------------------------


def test_monitoring_objects_are_off_by_default_and_on_when_enabled():
    assert not OPERATOR_KINDS & variant("existing-secret").kinds()
    assert "ConfigMap" not in variant("existing-secret").kinds()
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= variant("monitoring").kinds()


def test_service_monitor_defaults():
    values = VARIANTS["monitoring"]
    r = variant("monitoring")
    sm = r.get("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert values["serviceMonitor"]["labels"].items() <= sm["metadata"]["labels"].items()  # the alias still works
    service = r.get("Service")
    assert sm["spec"] == {
        "jobLabel": "app.kubernetes.io/name",
        "namespaceSelector": {"matchNames": [NAMESPACE]},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "smartlead-exporter", "app.kubernetes.io/instance": RELEASE}},
        "endpoints": [{"port": "http", "path": "/metrics", "scheme": "http", "interval": "30s", "scrapeTimeout": "10s"}],
        "sampleLimit": DEFAULT_VALUES["serviceMonitor"]["sampleLimit"],
    }
    assert sm["spec"]["sampleLimit"] == 100000
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_service_monitor_everything():
    values = VARIANTS["everything"]["serviceMonitor"]
    r = variant("everything")
    sm = r.get("ServiceMonitor")
    assert sm["metadata"]["namespace"] == "observability"
    assert {"release": "kube-prometheus-stack", "legacy": "true"}.items() <= sm["metadata"]["labels"].items()
    spec = sm["spec"]
    assert spec["jobLabel"] == "scrape-tier"
    assert r.get("Service")["metadata"]["labels"]["scrape-tier"] == "business"
    assert spec["targetLabels"] == ["scrape-tier"]
    assert spec["sampleLimit"] == 5000
    assert spec["targetLimit"] == 4 and spec["labelLimit"] == 30
    assert spec["podTargetLabels"] == ["cost-center"]
    assert sm["metadata"]["annotations"] == values["annotations"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}  # the Service stays in the release namespace
    assert spec["endpoints"] == [{
        "port": "http", "path": "/metrics", "scheme": "https", "interval": "30s", "scrapeTimeout": "10s",
        "honorLabels": True, "tlsConfig": values["tlsConfig"], "basicAuth": values["basicAuth"],
        "relabelings": values["relabelings"], "metricRelabelings": values["metricRelabelings"]}]


def _promtool_accepts(rule: dict, tmp_path: Path):
    rules_file = tmp_path / "prometheusrule.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def _alerts(rule: dict) -> dict[str, dict]:
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}


def _with_job(expr: str, matcher: str) -> str:
    return expr.replace(JOB_REGEX, matcher)


def test_prometheus_rule_follows_the_service_monitor_job(tmp_path):
    values = VARIANTS["monitoring"]
    r = variant("monitoring")
    rule = r.get("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert values["prometheusRule"]["labels"].items() <= rule["metadata"]["labels"].items()
    assert set(rule["spec"]) == {"groups"}
    # The canonical rules, with the job matcher rewritten to the job the ServiceMonitor makes.
    canonical = load_rules()
    for group in canonical["groups"]:
        for canonical_rule in group["rules"]:
            canonical_rule["expr"] = _with_job(str(canonical_rule["expr"]), 'job="smartlead-exporter"')
    assert rule["spec"] == {"groups": canonical["groups"]}
    assert JOB_REGEX in RULES_FILE.read_text()
    # The chart's job is the file's own by default; under another name the matcher follows.
    renamed = Rendered({**values, "nameOverride": "sl-metrics"}).get("PrometheusRule")
    assert JOB_REGEX not in json.dumps(renamed) and 'job=\\"sl-metrics\\"' in json.dumps(renamed)
    _promtool_accepts(rule, tmp_path)


def test_prometheus_rule_without_service_monitor_keeps_the_files_matcher():
    rule = Rendered({"smartlead": {"apiKey": API_KEY}, "prometheusRule": {"enabled": True}}).get("PrometheusRule")
    assert rule["spec"] == load_rules()
    rule = Rendered({"smartlead": {"apiKey": API_KEY},
                     "prometheusRule": {"enabled": True, "jobMatcher": 'job="static-smartlead"'}}).get("PrometheusRule")
    assert _alerts(rule)["SmartLeadExporterDown"]["expr"] == 'up{job="static-smartlead"} == 0'


def test_prometheus_rule_job_follows_name_override():
    rule = Rendered({"smartlead": {"apiKey": API_KEY}, "nameOverride": "sl", "serviceMonitor": {"enabled": True},
                     "prometheusRule": {"enabled": True}}).get("PrometheusRule")
    assert _alerts(rule)["SmartLeadExporterDown"]["expr"] == 'up{job="sl"} == 0'
    # A jobLabel that the Service does not carry: the Operator names the job after the Service.
    rule = Rendered({"smartlead": {"apiKey": API_KEY}, "serviceMonitor": {"enabled": True, "jobLabel": "nope"},
                     "prometheusRule": {"enabled": True}}).get("PrometheusRule")
    assert _alerts(rule)["SmartLeadExporterDown"]["expr"] == f'up{{job="{FULLNAME}"}} == 0'


def test_prometheus_rule_everything(tmp_path):
    values = VARIANTS["everything"]["prometheusRule"]
    rule = variant("everything").get("PrometheusRule")
    assert rule["metadata"]["namespace"] == "observability"
    assert rule["metadata"]["annotations"] == values["annotations"]
    assert {"release": "kube-prometheus-stack", "legacy": "true"}.items() <= rule["metadata"]["labels"].items()
    alerts = _alerts(rule)
    canonical = {r["alert"]: r for g in load_rules()["groups"] for r in g["rules"] if "alert" in r}
    # The user's own rules come as one more group, after the canonical ones.
    (own,) = [g for g in rule["spec"]["groups"] if g["name"] == "smartlead-smartlead-metrics-additional"]
    assert own["rules"] == values["additionalRules"] and rule["spec"]["groups"][-1] == own
    assert set(alerts) == set(canonical) - {"SmartLeadExporterAbsent"} | {"SmartLeadAcmeDown"}
    for name, alert in alerts.items():
        if name == "SmartLeadAcmeDown":
            continue
        expected = dict(canonical[name])
        expected["expr"] = _with_job(str(expected["expr"]), 'job="business"')
        expected["labels"] = {**expected.get("labels", {}), **({"severity": "critical"} if name == "SmartLeadAuthFailing" else {})}
        expected["annotations"] = {**expected.get("annotations", {}), "runbook_url": f"https://runbooks.example.com/smartlead#{name.lower()}"}
        assert alert == expected, name
    _promtool_accepts(rule, tmp_path)


def test_prometheus_rule_refuses_an_unknown_alert_name():
    for key in ("disabled", "severity"):
        with pytest.raises(helm.HelmRenderError) as excinfo:
            raw_render({"smartlead": {"apiKey": API_KEY},
                        "prometheusRule": {"enabled": True, key: {"SmartLeadApiDown": "info" if key == "severity" else True}}})
        assert 'names the alert "SmartLeadApiDown"' in str(excinfo.value)
        assert "SmartLeadAPIDown" in str(excinfo.value)  # the list of known alerts


def test_dashboard_configmap_is_the_canonical_dashboard():
    values = VARIANTS["monitoring"]
    r = variant("monitoring")
    cm = r.get("ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == values["grafanaDashboard"]["annotations"]
    (name,) = cm["data"]
    assert name == DASHBOARD_FILE.name
    assert cm["data"][name] == DASHBOARD_FILE.read_text().rstrip("\n")


def test_dashboard_labels_are_configurable():
    # Helm merges maps with the defaults: null removes the default label.
    r = Rendered({"smartlead": {"apiKey": API_KEY},
                  "grafanaDashboard": {"enabled": True, "labels": {"grafana_dashboard": None, "dashboards": "smartlead"}}})
    labels = r.get("ConfigMap")["metadata"]["labels"]
    assert labels["dashboards"] == "smartlead"
    assert "grafana_dashboard" not in labels


# --- the chart's copies of the dashboard and the rules ----------------------------------------

SYNC_SCRIPT = REPO / "scripts" / "sync-chart-files.sh"
COPIES = [(DASHBOARD_FILE, CHART_DIR / "files" / DASHBOARD_FILE.name), (RULES_FILE, CHART_DIR / "files" / RULES_FILE.name)]


def test_chart_files_are_real_copies_equal_to_the_sources():
    # Real files, not symlinks (Flux's Git sources and symlink-less checkouts drop links).
    for source, copy in COPIES:
        assert not copy.is_symlink(), copy
        assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}: run scripts/sync-chart-files.sh"
    result = subprocess.run([str(SYNC_SCRIPT), "--check"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ["scripts/sync-chart-files.sh", "dashboards", "alerts", "helm/smartlead-exporter/files"]:
        src, dst = REPO / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    return root


def test_sync_check_fails_on_a_changed_source_and_the_script_repairs_it(tmp_path):
    root = _repo_copy(tmp_path)
    script = root / "scripts" / "sync-chart-files.sh"
    rules = root / "alerts" / RULES_FILE.name
    rules.write_text(rules.read_text() + "# changed\n")
    result = subprocess.run([str(script), "--check"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"helm/smartlead-exporter/files/{RULES_FILE.name} differs from alerts/{RULES_FILE.name}" in result.stderr
    assert DASHBOARD_FILE.name not in result.stderr
    # A symlink in place of a copy fails the check too.
    link = root / "helm/smartlead-exporter/files" / DASHBOARD_FILE.name
    link.unlink()
    link.symlink_to(root / "dashboards" / DASHBOARD_FILE.name)
    result = subprocess.run([str(script), "--check"], capture_output=True, text=True, timeout=30)
    assert DASHBOARD_FILE.name in result.stderr and result.returncode == 1
    assert subprocess.run([str(script)], capture_output=True, timeout=30).returncode == 0
    assert not link.is_symlink()
    assert subprocess.run([str(script), "--check"], capture_output=True, timeout=30).returncode == 0
    assert (root / "helm/smartlead-exporter/files" / RULES_FILE.name).read_text().endswith("# changed\n")


def test_packaged_chart_carries_the_files(tmp_path):
    archive = helm.package(CHART_DIR, destination=tmp_path)
    with helm.Chart.load(archive) as chart:
        files = {f["name"]: f["data"] for f in chart.files}
        assert files["files/smartlead-exporter.json"] == DASHBOARD_FILE.read_text()
        assert files["files/smartlead-exporter.rules.yml"] == RULES_FILE.read_text()
        rendered = chart.render({"smartlead": {"apiKey": API_KEY}, "prometheusRule": {"enabled": True}},
                                name=RELEASE, namespace=NAMESPACE)
    rule = yaml.safe_load(rendered["smartlead-exporter/templates/prometheusrule.yaml"])
    assert rule["spec"] == load_rules()


# --- community-chart values: PDB, namespaceOverride, PodMonitor, envFrom, limits ---------------


def test_pod_disruption_budget():
    assert "PodDisruptionBudget" not in variant("api-key").kinds()
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "podDisruptionBudget": {"enabled": True}})
    pdb = r.get("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": r.workload["spec"]["selector"]["matchLabels"]}}
    r = variant("everything")
    assert r.get("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in r.get("PodDisruptionBudget")["spec"]
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}})
    assert r.get("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    with pytest.raises(helm.HelmRenderError, match="minAvailable or maxUnavailable"):
        raw_render({"smartlead": {"apiKey": API_KEY},
                    "podDisruptionBudget": {"enabled": True, "minAvailable": None, "maxUnavailable": None}})


def test_namespace_override_moves_every_namespaced_object():
    values = {**VARIANTS["monitoring"], "namespaceOverride": "smartlead", "networkPolicy": {"enabled": True},
              "podDisruptionBudget": {"enabled": True}}
    r = Rendered(values)
    for obj in r.objects:
        assert obj["metadata"]["namespace"] == "smartlead", obj["kind"]
    assert r.get("ServiceMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["smartlead"]}
    assert f"{FULLNAME}.smartlead.svc:10072" in r.test_pod["spec"]["containers"][0]["command"][2]
    assert "--namespace smartlead port-forward" in r.notes


def test_pod_monitor():
    values = {"smartlead": {"apiKey": API_KEY}, "prometheusRule": {"enabled": True},
              "podMonitor": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"},
                             "annotations": {"a": "b"}, "podTargetLabels": ["team"], "targetLimit": 2, "labelLimit": 40,
                             "relabelings": [{"targetLabel": "cluster", "replacement": "eu"}]}}
    r = Rendered(values)
    pm = r.get("PodMonitor")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and "ServiceMonitor" not in r.kinds()
    assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack" and pm["metadata"]["annotations"] == {"a": "b"}
    assert pm["spec"] == {
        "jobLabel": "app.kubernetes.io/name", "podTargetLabels": ["team"], "sampleLimit": 100000, "targetLimit": 2,
        "labelLimit": 40, "namespaceSelector": {"matchNames": [NAMESPACE]},
        "selector": {"matchLabels": r.workload["spec"]["selector"]["matchLabels"]},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "scheme": "http", "interval": "30s",
                                 "scrapeTimeout": "10s", "relabelings": values["podMonitor"]["relabelings"]}]}
    # The pod carries the job label, and the rules follow the job.
    assert r.workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "smartlead-exporter"
    assert _alerts(r.get("PrometheusRule"))["SmartLeadExporterDown"]["expr"] == 'up{job="smartlead-exporter"} == 0'
    r = Rendered({**values, "nameOverride": "sl"})
    assert _alerts(r.get("PrometheusRule"))["SmartLeadExporterDown"]["expr"] == 'up{job="sl"} == 0'
    # A jobLabel the pod does not carry: the Operator names the job <namespace>/<PodMonitor>.
    r = Rendered({**values, "podMonitor": {**values["podMonitor"], "jobLabel": "nope"}})
    assert _alerts(r.get("PrometheusRule"))["SmartLeadExporterDown"]["expr"] == f'up{{job="{NAMESPACE}/{FULLNAME}"}} == 0'
    with pytest.raises(helm.HelmRenderError, match="not both|enable one"):
        raw_render({**values, "serviceMonitor": {"enabled": True}})


def test_extra_env_from():
    env_from = [{"configMapRef": {"name": "proxy-env"}}, {"secretRef": {"name": "proxy-credentials"}}]
    r = Rendered({"smartlead": {"apiKey": API_KEY}, "extraEnvFrom": env_from})
    assert r.container["envFrom"] == env_from
    assert variant("everything").container["envFrom"] == VARIANTS["everything"]["extraEnvFrom"]


def test_additional_rules_pass_promtool(tmp_path):
    rules = [{"record": "account:smartlead_up:min", "expr": "min without (instance) (smartlead_up)"},
             {"alert": "SmartLeadAcmeDown", "expr": 'smartlead_up{account="acme"} == 0', "for": "1h"}]
    rule = Rendered({"smartlead": {"apiKey": API_KEY}, "prometheusRule": {"enabled": True, "additionalRules": rules}}).get("PrometheusRule")
    assert rule["spec"]["groups"][-1] == {"name": f"{FULLNAME}-additional", "rules": rules}
    _promtool_accepts(rule, tmp_path)
    with pytest.raises(helm.HelmValuesError, match="additionalRules"):
        raw_render({"smartlead": {"apiKey": API_KEY}, "prometheusRule": {"additionalRules": [{"expr": "up"}]}})


def _samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# The sizing of sampleLimit in the chart README ("Scrape limits"): samples per pod, per account
# (its own series, without its categories, campaigns and mailboxes), and per category, campaign
# and mailbox, with every collector and with the categories collector alone.
PER_POD = 11
PER_ACCOUNT, PER_CATEGORY, PER_COLLECTED_CAMPAIGN, PER_OTHER_CAMPAIGN, PER_MAILBOX = 200, 3, 18, 1, 9
CATEGORIES_ONLY_PER_ACCOUNT, CATEGORIES_ONLY_PER_CATEGORY = 50, 2
# Each status code an endpoint answers adds a series to the account's own, beyond the 200, 401,
# 403 and 429 measured: the README's number leaves room for five more on each of the five.
ROOM_FOR_STATUS_CODES = 5 * 5
# The account the default is sized for, twice over: the benchmark's large agency account (30
# categories, 1,000 campaigns of which 200 active or paused, 5,000 mailboxes).
AGENCY = {"categories": 30, "collected": 200, "other": 800, "mailboxes": 5000}
COLLECTED_STATUSES = {"active", "paused"}  # the default --collector.campaigns.statuses
SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _per_pod(accounts: list[dict[str, int]]) -> int:
    return PER_POD + sum(PER_ACCOUNT + PER_CATEGORY * a["categories"] + PER_COLLECTED_CAMPAIGN * a["collected"]
                         + PER_OTHER_CAMPAIGN * a["other"] + PER_MAILBOX * a["mailboxes"] for a in accounts)


def _series_owners(samples: list[str]) -> dict[tuple, int]:
    """How many series each thing owns: ("pod",), ("account",), ("category", id),
    ("campaign", id, status) and ("mailbox", id); the replies of a category that is not in the
    category list (Uncategorized) are the account's."""
    parsed = []
    for sample in samples:
        name, labels = SERIES.match(sample).groups()
        parsed.append((name, dict(LABEL.findall(labels or ""))))
    category_ids = {labels["name"]: labels["id"] for name, labels in parsed if name == "smartlead_category_info"}
    campaign_status = {labels["campaign_id"]: labels["status"] for name, labels in parsed if name == "smartlead_campaign_info"}
    owners: dict[tuple, int] = {}
    for name, labels in parsed:
        if "account" not in labels:
            owner = ("pod",)
        elif "mailbox_id" in labels:
            owner = ("mailbox", labels["mailbox_id"])
        elif "campaign_id" in labels:
            owner = ("campaign", labels["campaign_id"], campaign_status[labels["campaign_id"]])
        elif name.startswith("smartlead_category_") and "id" in labels:
            owner = ("category", labels["id"])
        elif name == "smartlead_category_replies" and labels["category"] in category_ids:
            owner = ("category", category_ids[labels["category"]])
        else:
            owner = ("account",)
        owners[owner] = owners.get(owner, 0) + 1
    return owners


def _serve_generated_account(size: dict[str, int], *flags: str) -> list[str]:
    """The exporter's samples for one account of that size (smartlead_stand_in.generated, on
    loopback), served by the exporter as a pod runs it, once every enabled collector has
    succeeded."""
    import time
    import urllib.request

    import smartlead_stand_in
    from deploy_support import free_port, loopback_env
    key = "sizing-key"
    stand_in = smartlead_stand_in.serve(
        smartlead_stand_in.generated(size["categories"], size["collected"], size["other"], size["mailboxes"]), key)
    port = free_port()
    process = subprocess.Popen(
        [str(exporter_binary()), f"--web.listen-address=127.0.0.1:{port}",
         f"--smartlead.base-url={smartlead_stand_in.base_url(stand_in)}", "--smartlead.allowed-hosts=127.0.0.1", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**loopback_env(), "SMARTLEAD_API_KEY": key})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    enabled = 4 - sum(flag.startswith("--no-collector.") for flag in flags)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    samples = _samples(response.read().decode())
                succeeded = [s for s in samples if s.startswith("smartlead_collector_last_success_timestamp_seconds{")]
                if len(succeeded) == enabled:
                    return samples
            except OSError:
                pass
            assert process.poll() is None, f"the exporter exited with status {process.returncode}"
            assert time.monotonic() < deadline, "the exporter never ran every collector"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)
        stand_in.shutdown()
        stand_in.server_close()


def test_default_sample_limit_is_sized_from_measured_series():
    # The sizing in the chart README, measured on the exporter itself: it serves a generated
    # account (every endpoint answering, with SmartLead's rate-limit headers) of a few of each
    # thing (active, paused, and campaigns of each other status, whose analytics are not
    # collected; mailboxes over two pages), and each thing's series are counted by their labels.
    # A change of the exposition that outgrows the README's numbers fails here.
    size = {"categories": 5, "collected": 4, "other": 4, "mailboxes": 105}
    owners = _series_owners(_serve_generated_account(size))
    kinds: dict[str, list[int]] = {}
    for owner, count in owners.items():
        kind = owner[0] if owner[0] != "campaign" else ("collected" if owner[2] in COLLECTED_STATUSES else "other")
        kinds.setdefault(kind, []).append(count)
    assert {kind: len(counts) for kind, counts in kinds.items()} == {
        "pod": 1, "account": 1, "category": size["categories"], "collected": size["collected"], "other": size["other"],
        "mailbox": size["mailboxes"]}
    # Every campaign, mailbox and category of a kind owns as many series as the README says.
    assert set(kinds["category"]) == {PER_CATEGORY}
    assert set(kinds["collected"]) == {PER_COLLECTED_CAMPAIGN}
    assert set(kinds["other"]) == {PER_OTHER_CAMPAIGN}
    assert set(kinds["mailbox"]) == {PER_MAILBOX}
    assert kinds["pod"] == [PER_POD]
    # The account's own, with the rate-limit headers, and room for more status codes.
    (per_account,) = kinds["account"]
    assert per_account + ROOM_FOR_STATUS_CODES <= PER_ACCOUNT, per_account

    # The categories collector alone.
    owners = _series_owners(_serve_generated_account(
        size, "--no-collector.replies", "--no-collector.campaigns", "--no-collector.mailboxes"))
    assert {owner[0] for owner in owners} == {"pod", "account", "category"}
    assert {count for owner, count in owners.items() if owner[0] == "category"} == {CATEGORIES_ONLY_PER_CATEGORY}
    assert owners[("pod",)] == PER_POD
    assert owners[("account",)] <= CATEGORIES_ONLY_PER_ACCOUNT

    readme = " ".join((CHART_DIR / "README.md").read_text().split())
    assert (f"samples per pod = {PER_POD} + sum over its accounts of ({PER_ACCOUNT} + {PER_CATEGORY} × categories + "
            f"{PER_COLLECTED_CAMPAIGN} × collected campaigns + {PER_OTHER_CAMPAIGN} × other campaigns + "
            f"{PER_MAILBOX} × mailboxes)") in readme
    assert (f"with the categories collector alone: {PER_POD} + sum over its accounts of "
            f"({CATEGORIES_ONLY_PER_ACCOUNT} + {CATEGORIES_ONLY_PER_CATEGORY} × categories)") in readme
    # The default holds the agency account twice over, and the README's other examples as it
    # says; it is the same for both monitors.
    default = DEFAULT_VALUES["serviceMonitor"]["sampleLimit"]
    assert default == DEFAULT_VALUES["podMonitor"]["sampleLimit"] == 100_000
    agency = _per_pod([AGENCY])
    assert 2 * agency <= default and f"{agency:,} samples" in readme
    small = {"categories": 30, "collected": 20, "other": 0, "mailboxes": 50}
    assert _per_pod([small] * 90) <= default < _per_pod([small] * 100)
    assert f"{_per_pod([small] * 90):,}" in readme and f"{_per_pod([small] * 100):,}" in readme
    assert f"{_per_pod([small] * 50):,} each" in readme  # the 100 accounts over two shards
