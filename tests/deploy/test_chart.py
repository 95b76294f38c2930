"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, Helm 4) without
a cluster, every manifest validated by kubernetes-validate in strict mode, the Prometheus
Operator objects checked by structure and by promtool."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from deploy_support import CHART_DIR, DASHBOARD_FILE, RULES_FILE, load_rules, promtool

helm.disable_logging()  # Helm logs every followed symlink at INFO

RELEASE = "smartlead"
NAMESPACE = "monitoring"
API_KEY = "sl-test-key-7f3a9c"  # a value to hunt for in rendered manifests
KEY_FILE = "/etc/smartlead-exporter/secret/api-key"
CHART_YAML = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
# The oldest Kubernetes the chart declares and the newest kubernetes-validate knows.
KUBE_VERSIONS = [
    re.match(r">=\s*(\d+\.\d+\.\d+)", CHART_YAML["kubeVersion"]).group(1),
    kubernetes_validate.latest_version(),
]
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # CRDs: not in kubernetes-validate's schemas


def ci_values(name: str) -> dict:
    return yaml.safe_load((CHART_DIR / "ci" / f"{name}-values.yaml").read_text())


VARIANTS = {
    "api-key": {"smartlead": {"apiKey": API_KEY}},
    "existing-secret": ci_values("existing-secret"),
    "monitoring": ci_values("monitoring"),
    "tuning": ci_values("tuning"),
}


def render(values: dict) -> tuple[dict[str, dict], str]:
    """Objects by kind (each kind at most once here) and the rendered NOTES.txt."""
    with helm.Chart.load(CHART_DIR) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    objects: dict[str, dict] = {}
    notes = ""
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert doc["kind"] not in objects, f"two {doc['kind']} objects"
                objects[doc["kind"]] = doc
    return objects, notes


def raw_render(values: dict) -> dict[str, str]:
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE)


def pod_spec(objects):
    return objects["Deployment"]["spec"]["template"]["spec"]


def container(objects):
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1
    return containers[0]


# --- every variant ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_strict_is_clean(variant):
    for kube_version in (None, f"v{KUBE_VERSIONS[0]}"):
        report = helm.lint(CHART_DIR, VARIANTS[variant], strict=True, namespace=NAMESPACE, kube_version=kube_version)
        assert report["total_charts_linted"] == 1
        assert report["errors"] == []
        # Severity 1 is INFO (only "icon is recommended"); 2 warning, 3 error.
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_manifests_validate_strictly(variant, kube_version):
    objects, _ = render(VARIANTS[variant])
    validated = 0
    for kind, obj in objects.items():
        if kind in OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{kind} invalid for Kubernetes {kube_version}: {'.'.join(map(str, e.path))}: {e.message}")
        validated += 1
    assert validated >= 2  # at least Deployment and Service


@pytest.mark.parametrize("variant", VARIANTS)
def test_recommended_labels_on_every_object(variant):
    objects, _ = render(VARIANTS[variant])
    for kind, obj in objects.items():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "smartlead-exporter", kind
        assert labels["app.kubernetes.io/instance"] == RELEASE, kind
        assert labels["app.kubernetes.io/version"] == CHART_YAML["appVersion"], kind
        assert labels["app.kubernetes.io/managed-by"] == "Helm", kind
        assert labels["helm.sh/chart"] == f"smartlead-exporter-{CHART_YAML['version']}", kind
        assert obj["metadata"]["namespace"] == NAMESPACE, kind


@pytest.mark.parametrize("variant", VARIANTS)
def test_deployment_is_hardened(variant):
    objects, _ = render(VARIANTS[variant])
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    pod = pod_spec(objects)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65534
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(objects)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 65534
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_port_and_probes(variant):
    objects, _ = render(VARIANTS[variant])
    c = container(objects)
    assert c["ports"] == [{"name": "http", "containerPort": 10072, "protocol": "TCP"}]
    assert "--web.listen-address=:10072" in c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    service = objects["Service"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 10072, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]
    template_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_key_arrives_as_a_mounted_secret_file(variant):
    values = VARIANTS[variant]
    objects, _ = render(values)
    c = container(objects)
    assert f"--smartlead.api-key-file={KEY_FILE}" in c["args"]
    assert "env" not in c and "envFrom" not in c  # never SMARTLEAD_API_KEY in the environment
    assert not any(a.startswith("--smartlead.api-key=") for a in c["args"])
    mount = c["volumeMounts"][0]
    assert mount["mountPath"] == str(Path(KEY_FILE).parent)
    assert mount["readOnly"] is True
    # A subPath mount would freeze the file: rotation by re-reading needs the whole volume.
    assert "subPath" not in mount
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"])
    smartlead = values["smartlead"]
    if smartlead.get("existingSecret"):
        assert "Secret" not in objects
        assert volume["secret"]["secretName"] == smartlead["existingSecret"]
        expected_key = smartlead.get("existingSecretKey", "api-key")
    else:
        secret = objects["Secret"]
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        assert base64.b64decode(secret["data"]["api-key"]).decode() == smartlead["apiKey"]
        expected_key = "api-key"
    assert volume["secret"]["items"] == [{"key": expected_key, "path": "api-key"}]


def test_api_key_is_never_a_literal_outside_the_secret():
    rendered = raw_render({"smartlead": {"apiKey": API_KEY}, "serviceMonitor": {"enabled": True},
                           "prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}})
    encoded = base64.b64encode(API_KEY.encode()).decode()
    for path, text in rendered.items():
        assert API_KEY not in text, path
        if not path.endswith("secret.yaml"):
            assert encoded not in text, path


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_secret_checksum_restarts_the_pod_on_rotation(variant):
    # The exporter re-reads the key file before every poll; a checksum/secret annotation would
    # roll the pod on every key change for nothing.
    objects, _ = render(VARIANTS[variant])
    annotations = objects["Deployment"]["spec"]["template"]["metadata"].get("annotations") or {}
    assert not any("checksum" in key for key in annotations)


@pytest.mark.parametrize("variant", VARIANTS)
def test_notes_render(variant):
    _, notes = render(VARIANTS[variant])
    assert "port-forward service/smartlead-smartlead-exporter" in notes


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_image_flags_and_optional_objects_off():
    objects, _ = render(VARIANTS["api-key"])
    assert set(objects) == {"Deployment", "Service", "Secret"}
    c = container(objects)
    assert c["image"] == f"smartlead-exporter:{CHART_YAML['appVersion']}"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["args"] == [
        "--web.listen-address=:10072",
        f"--smartlead.api-key-file={KEY_FILE}",
        "--smartlead.base-url=https://server.smartlead.ai/api/v1",
        "--poll.interval=60s",
        "--smartlead.account=default",
    ]
    assert c["resources"]["limits"]["memory"]


def test_image_tag_override():
    objects, _ = render({"smartlead": {"apiKey": API_KEY},
                         "image": {"repository": "registry.example/smartlead-exporter", "tag": "v9", "pullPolicy": "Always"}})
    c = container(objects)
    assert c["image"] == "registry.example/smartlead-exporter:v9"
    assert c["imagePullPolicy"] == "Always"


# --- the key: exactly one of apiKey and existingSecret ---------------------------------------


@pytest.mark.parametrize(
    "smartlead,message",
    [
        ({}, "no SmartLead API key configured"),
        ({"apiKey": ""}, "no SmartLead API key configured"),
        ({"apiKey": API_KEY, "existingSecret": "mine"}, "both smartlead.apiKey and smartlead.existingSecret are set"),
    ],
    ids=["neither", "empty-key", "both"],
)
def test_key_misconfiguration_fails_with_a_clear_message(smartlead, message):
    with pytest.raises(helm.HelmRenderError) as excinfo:
        raw_render({"smartlead": smartlead})
    text = str(excinfo.value)
    assert message in text
    # The message says what to set.
    assert "smartlead.existingSecret=" in text and "smartlead.apiKey=" in text


def test_existing_secret_default_key_name():
    objects, _ = render({"smartlead": {"existingSecret": "smartlead-api-key"}})
    volume = pod_spec(objects)["volumes"][0]
    assert volume["secret"] == {"secretName": "smartlead-api-key", "defaultMode": 0o440,
                                "items": [{"key": "api-key", "path": "api-key"}]}


@pytest.mark.parametrize(
    "values,where",
    [
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"serviceMonitor": {"enable": True}}, "'enable' not allowed"),
        ({"smartlead": {"pollInterval": "often"}}, "/smartlead/pollInterval"),
        ({"extraArgs": ["debug"]}, "/extraArgs/0"),
    ],
    ids=["pull-policy", "typo", "duration", "flag"],
)
def test_schema_rejects_bad_values(values, where):
    values = {**values, "smartlead": {"apiKey": API_KEY, **values.get("smartlead", {})}}
    with pytest.raises(helm.HelmValuesError) as excinfo:
        raw_render(values)
    assert where in str(excinfo.value)


# --- extra args and resources -----------------------------------------------------------------


def test_tuning_values_reach_the_pod():
    values = VARIANTS["tuning"]
    objects, _ = render(values)
    c = container(objects)
    assert c["args"][-len(values["extraArgs"]):] == values["extraArgs"]
    assert "--poll.interval=2m" in c["args"]
    assert "--smartlead.account=acme" in c["args"]
    assert f"--smartlead.base-url={values['smartlead']['baseUrl']}" in c["args"]
    assert c["resources"] == values["resources"]
    pod = pod_spec(objects)
    assert objects["Deployment"]["spec"]["template"]["metadata"]["annotations"] == values["podAnnotations"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]


# --- Prometheus Operator objects and the dashboard -------------------------------------------


def test_monitoring_objects_are_off_by_default_and_on_when_enabled():
    assert not OPERATOR_KINDS & set(render(VARIANTS["existing-secret"])[0])
    assert "ConfigMap" not in render(VARIANTS["existing-secret"])[0]
    objects, _ = render(VARIANTS["monitoring"])
    assert OPERATOR_KINDS | {"ConfigMap"} <= set(objects)


def test_service_monitor_structure():
    values = VARIANTS["monitoring"]
    objects, _ = render(values)
    sm = objects["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert values["serviceMonitor"]["labels"].items() <= sm["metadata"]["labels"].items()
    spec = sm["spec"]
    assert set(spec) <= {"jobLabel", "namespaceSelector", "selector", "endpoints"}
    service = objects["Service"]
    # It selects the chart's Service, in its namespace, and scrapes its named port.
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # job = the Service's app.kubernetes.io/name, which the rules' job=~".*smartlead.*" matches.
    assert "smartlead" in service["metadata"]["labels"][spec["jobLabel"]]
    (endpoint,) = spec["endpoints"]
    assert set(endpoint) <= {"port", "path", "scheme", "interval", "scrapeTimeout"}
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == values["serviceMonitor"]["interval"]
    assert endpoint["scrapeTimeout"] == values["serviceMonitor"]["scrapeTimeout"]


def test_prometheus_rule_is_the_canonical_rules_file(tmp_path):
    values = VARIANTS["monitoring"]
    objects, _ = render(values)
    rule = objects["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert values["prometheusRule"]["labels"].items() <= rule["metadata"]["labels"].items()
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"] == load_rules()
    # The Operator hands spec.groups to Prometheus as a rules file: promtool must accept it.
    rules_file = tmp_path / "prometheusrule.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_configmap_is_the_canonical_dashboard():
    values = VARIANTS["monitoring"]
    objects, _ = render(values)
    cm = objects["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == values["grafanaDashboard"]["annotations"]
    (name,) = cm["data"]
    assert name == DASHBOARD_FILE.name
    assert cm["data"][name] == DASHBOARD_FILE.read_text().rstrip("\n")
    assert json.loads(cm["data"][name]) == json.loads(DASHBOARD_FILE.read_text())


def test_dashboard_labels_are_configurable():
    # Helm merges maps with the defaults: null removes the default label.
    objects, _ = render({"smartlead": {"apiKey": API_KEY},
                         "grafanaDashboard": {"enabled": True,
                                              "labels": {"grafana_dashboard": None, "dashboards": "smartlead"}}})
    labels = objects["ConfigMap"]["metadata"]["labels"]
    assert labels["dashboards"] == "smartlead"
    assert "grafana_dashboard" not in labels


def test_chart_files_are_symlinks_to_the_canonical_files():
    # Helm cannot read outside the chart, so files/ links to the canonical copies; Helm's
    # loader follows the links (the two tests above prove the content arrives).
    for link, target in [("smartlead-exporter.rules.yml", RULES_FILE), ("smartlead-exporter.json", DASHBOARD_FILE)]:
        path = CHART_DIR / "files" / link
        assert path.is_symlink(), path
        assert path.resolve() == target.resolve()
    with helm.Chart.load(CHART_DIR) as chart:
        files = {f["name"]: f["data"] for f in chart.files}
    assert files["files/smartlead-exporter.rules.yml"] == RULES_FILE.read_text()


def test_packaged_chart_carries_the_linked_files(tmp_path):
    # `helm package` stores the contents behind the symlinks, so the published chart needs
    # neither alerts/ nor dashboards/ beside it.
    archive = helm.package(CHART_DIR, destination=tmp_path)
    with helm.Chart.load(archive) as chart:
        files = {f["name"]: f["data"] for f in chart.files}
        assert files["files/smartlead-exporter.json"] == DASHBOARD_FILE.read_text()
        rendered = chart.render(VARIANTS["monitoring"], name=RELEASE, namespace=NAMESPACE)
    rule = yaml.safe_load(rendered["smartlead-exporter/templates/prometheusrule.yaml"])
    assert rule["spec"] == load_rules()
