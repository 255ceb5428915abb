#!/usr/bin/env python3
"""The Helm chart, rendered by Helm's engine and validated for Kubernetes 1.29 and the newest
version kubernetes-validate knows: which APIServices each set of rules registers, how the
serving certificate reaches them, what every values key turns into, and the values the chart
refuses. Run by tests/e2e/chart.rs (cargo test), or directly: python3 tests/chart/test_chart.py
"""

from __future__ import annotations

import base64
import sys
import unittest
from pathlib import Path
from typing import Any

import yaml

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import render  # noqa: E402

CUSTOM = {"v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io"}
EXTERNAL = {"v1beta1.external.metrics.k8s.io"}
RESOURCE = {"v1beta1.metrics.k8s.io"}

REFERENCE = render.ROOT.parent / "shared" / "reference"


def rendered(*values_files: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Render with these values files, validate every object, and return them."""
    objects = render.render(render.load_values(values_files), **kwargs)
    render.validate(objects)
    return objects


def rendered_values(values: dict[str, Any]) -> list[dict[str, Any]]:
    objects = render.render(values)
    render.validate(objects)
    return objects


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    if len(found) != 1:
        names = [o["metadata"]["name"] for o in of_kind(objects, kind)]
        raise AssertionError(f"expected one {kind} {name or ''}, found {names}")
    return found[0]


def apiservices(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in of_kind(objects, "APIService")}


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def rules_file(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(one(objects, "ConfigMap", objects_fullname(objects))["data"]["config.yaml"])


def objects_fullname(objects: list[dict[str, Any]]) -> str:
    return one(objects, "Deployment")["metadata"]["name"]


def keys(tree: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every key of a values tree, down to the leaves and to empty maps.

    Maps that hold user data rather than chart keys (labels, rules, pod spec fragments) stop
    the descent: their keys are the user's, not the chart's.
    """
    out = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}{key}"
            out.add(path)
            if path not in OPAQUE and isinstance(value, dict):
                out |= keys(value, path + ".")
    return out


# Values whose content is passed through to a Kubernetes object or the rules file.
OPAQUE = {
    "affinity", "topologySpreadConstraints", "nodeSelector", "podSecurityContext",
    "securityContext", "dnsConfig", "resources", "livenessProbe", "readinessProbe",
    "startupProbe", "rules.resource", "service.annotations", "strategy", "lifecycle",
    "customLabels", "customAnnotations", "podLabels", "podAnnotations", "deploymentAnnotations",
    "psp.annotations", "serviceAccount.annotations", "serviceMonitor.labels",
    "grafanaDashboard.labels", "grafanaDashboard.annotations",
    "serviceMonitor.tlsConfig",
}


class ApiServicesFollowTheRules(unittest.TestCase):
    """Exactly the group-versions the rendered rules serve are registered, never another."""

    def test_default_rules_register_custom_metrics_only(self) -> None:
        objects = rendered()
        self.assertEqual(apiservices(objects), CUSTOM)
        self.assertEqual(set(rules_file(objects)), {"rules"})

    def test_external_rules_alone_register_external_metrics_only(self) -> None:
        objects = rendered("external-only.yaml")
        self.assertEqual(apiservices(objects), EXTERNAL)
        self.assertEqual(set(rules_file(objects)), {"externalRules"})

    def test_resource_rules_alone_register_metrics_only(self) -> None:
        objects = rendered("resource-only.yaml")
        self.assertEqual(apiservices(objects), RESOURCE)
        self.assertEqual(set(rules_file(objects)), {"resourceRules"})
        reader = one(objects, "ClusterRole", "metrics-adapter-aggregated-metrics-reader")
        self.assertEqual(reader["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"], "true")

    def test_no_rules_register_nothing(self) -> None:
        objects = rendered("no-rules.yaml")
        self.assertEqual(apiservices(objects), set())
        self.assertEqual(rules_file(objects), {})

    def test_every_api_when_every_kind_of_rule_is_given(self) -> None:
        self.assertEqual(apiservices(rendered("every-key.yaml")), CUSTOM | EXTERNAL | RESOURCE)

    def test_an_existing_configmap_registers_what_the_values_say_it_serves(self) -> None:
        objects = rendered("existing-configmap.yaml")
        self.assertEqual(apiservices(objects), CUSTOM | EXTERNAL)
        self.assertEqual([o["metadata"]["name"] for o in of_kind(objects, "ConfigMap")], [])
        volumes = one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
        self.assertIn({"name": "config", "configMap": {"name": "adapter-rules"}}, volumes)
        only_resource = render.render(
            {"rules": {"existing": "adapter-rules", "existingServes": {"custom": False, "resource": True}}}
        )
        self.assertEqual(apiservices(only_resource), RESOURCE)

    def test_every_apiservice_is_v1_points_at_the_service_and_prefers_v1beta2(self) -> None:
        objects = rendered("every-key.yaml")
        service = one(objects, "Service")
        for api in of_kind(objects, "APIService"):
            self.assertEqual(api["apiVersion"], "apiregistration.k8s.io/v1")
            spec = api["spec"]
            self.assertEqual(api["metadata"]["name"], f"{spec['version']}.{spec['group']}")
            self.assertEqual(
                spec["service"],
                {
                    "name": service["metadata"]["name"],
                    "namespace": service["metadata"]["namespace"],
                    "port": service["spec"]["ports"][0]["port"],
                },
            )
            self.assertEqual(spec["groupPriorityMinimum"], 100)
        priority = {o["metadata"]["name"]: o["spec"]["versionPriority"] for o in of_kind(objects, "APIService")}
        self.assertGreater(priority["v1beta2.custom.metrics.k8s.io"], priority["v1beta1.custom.metrics.k8s.io"])


class ServingCertificate(unittest.TestCase):
    """caBundle when a CA is known, insecureSkipTLSVerify only when none is."""

    def test_self_signed_skips_verification(self) -> None:
        objects = rendered()
        for api in of_kind(objects, "APIService"):
            self.assertIs(api["spec"].get("insecureSkipTLSVerify"), True)
            self.assertNotIn("caBundle", api["spec"])
        args = container(objects)["args"]
        self.assertFalse([a for a in args if a.startswith("--tls-")], args)
        self.assertIn("--cert-dir=/tmp/cert", args)

    def test_tls_values_give_the_ca_bundle_and_the_secret(self) -> None:
        objects = rendered("tls.yaml")
        values = render.load_values(["tls.yaml"])["tls"]
        for api in of_kind(objects, "APIService"):
            self.assertEqual(base64.b64decode(api["spec"]["caBundle"]).decode(), values["ca"])
            self.assertNotIn("insecureSkipTLSVerify", api["spec"])
        secret = one(objects, "Secret")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        self.assertEqual(base64.b64decode(secret["data"]["tls.crt"]).decode(), values["certificate"])
        self.assertEqual(base64.b64decode(secret["data"]["tls.key"]).decode(), values["key"])
        self.assert_mounted(objects, secret["metadata"]["name"])

    def test_cert_manager_issues_the_certificate_and_injects_its_ca(self) -> None:
        objects = rendered("cert-manager.yaml")
        namespace = "monitoring"
        certificates = {o["metadata"]["name"]: o for o in of_kind(objects, "Certificate")}
        issuers = {o["metadata"]["name"]: o for o in of_kind(objects, "Issuer")}
        for api in of_kind(objects, "APIService"):
            source = api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            ns, name = source.split("/")
            self.assertEqual(ns, namespace)
            self.assertTrue(certificates[name]["spec"]["isCA"])
            self.assertNotIn("insecureSkipTLSVerify", api["spec"])
            self.assertNotIn("caBundle", api["spec"])
        ca_issuer = [i for i in issuers.values() if "ca" in i["spec"]]
        self.assertEqual(len(ca_issuer), 1)
        serving = [c for c in certificates.values() if not c["spec"].get("isCA")]
        self.assertEqual(len(serving), 1)
        serving = serving[0]["spec"]
        self.assertEqual(serving["issuerRef"]["name"], ca_issuer[0]["metadata"]["name"])
        self.assertIn("metrics-adapter.monitoring.svc", serving["dnsNames"])
        self.assertEqual(serving["duration"], "2160h0m0s")
        self.assertEqual(serving["revisionHistoryLimit"], 3)
        ca = [c for c in certificates.values() if c["spec"].get("isCA")][0]["spec"]
        self.assertEqual(ca["duration"], "87600h0m0s")
        self.assertEqual(ca["revisionHistoryLimit"], 2)
        self.assertEqual(ca_issuer[0]["spec"]["ca"]["secretName"], ca["secretName"])
        self.assert_mounted(objects, serving["secretName"])

    def assert_mounted(self, objects: list[dict[str, Any]], secret: str) -> None:
        pod = one(objects, "Deployment")["spec"]["template"]["spec"]
        self.assertIn({"name": "serving-cert", "secret": {"secretName": secret}}, pod["volumes"])
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        self.assertEqual(mounts["serving-cert"], "/var/run/serving-cert")
        args = pod["containers"][0]["args"]
        self.assertIn("--tls-cert-file=/var/run/serving-cert/tls.crt", args)
        self.assertIn("--tls-private-key-file=/var/run/serving-cert/tls.key", args)


class Defaults(unittest.TestCase):
    """What an install without values gets."""

    def setUp(self) -> None:
        self.objects = rendered()

    def test_two_replicas_spread_over_nodes_with_a_disruption_budget(self) -> None:
        deployment = one(self.objects, "Deployment")
        self.assertEqual(deployment["spec"]["replicas"], 2)
        pdb = one(self.objects, "PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"])
        affinity = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        self.assertIn("preferredDuringSchedulingIgnoredDuringExecution", affinity)

    def test_probes_use_the_adapters_health_endpoints_with_a_startup_probe(self) -> None:
        c = container(self.objects)
        self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/livez")
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/livez")
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        ports = {p["name"] for p in c["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            self.assertIn(c[probe]["httpGet"]["port"], ports)
            self.assertEqual(c[probe]["httpGet"]["scheme"], "HTTPS")

    def test_the_grace_period_outlasts_the_drain(self) -> None:
        pod = one(self.objects, "Deployment")["spec"]["template"]["spec"]
        drain = [a for a in pod["containers"][0]["args"] if a.startswith("--shutdown-drain-timeout=")]
        self.assertEqual(drain, ["--shutdown-drain-timeout=30s"])
        self.assertGreater(pod["terminationGracePeriodSeconds"], 30)

    def test_the_image_entrypoint_runs_with_community_shaped_args(self) -> None:
        c = container(self.objects)
        self.assertNotIn("command", c)
        self.assertEqual(c["image"], "metrics-adapter:0.1.0")
        self.assertTrue(all(a.startswith("--") for a in c["args"]), c["args"])
        self.assertEqual(
            c["args"][:6],
            [
                "--secure-port=6443",
                "--cert-dir=/tmp/cert",
                "--prometheus-url=http://prometheus.default.svc:9090",
                "--metrics-relist-interval=1m",
                "--v=2",
                "--config=/etc/adapter/config.yaml",
            ],
        )

    def test_hardened_pod(self) -> None:
        c = container(self.objects)
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertTrue(c["securityContext"]["runAsNonRoot"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        self.assertTrue(mounts["/etc/adapter"]["readOnly"])
        self.assertIn("/tmp", mounts)

    def test_optional_objects_are_off(self) -> None:
        kinds = {o["kind"] for o in self.objects}
        self.assertFalse([o for o in of_kind(self.objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")])
        for kind in ("ServiceMonitor", "NetworkPolicy", "PodSecurityPolicy", "Secret", "Certificate", "Issuer"):
            self.assertNotIn(kind, kinds)

    def test_default_rules_are_the_community_charts(self) -> None:
        reference = REFERENCE / "helm-chart-default-rules.yaml"
        if not reference.exists():
            self.skipTest(f"{reference} is absent (a plain clone without ../shared)")
        self.assertEqual(rules_file(self.objects), yaml.safe_load(reference.read_text()))


class EveryKey(unittest.TestCase):
    """values/every-key.yaml sets every key, and each one shows in the rendered objects."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.values = render.load_values(["every-key.yaml"])
        cls.objects = rendered("every-key.yaml")
        cls.deployment = one(cls.objects, "Deployment")
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]

    def test_the_file_sets_every_key_of_values_yaml_and_no_other(self) -> None:
        defaults = yaml.safe_load((render.CHART / "values.yaml").read_text())
        self.assertEqual(keys(self.values) ^ keys(defaults), set())
        changed = [k for k in keys(defaults) if not isinstance(lookup(defaults, k), dict) and lookup(defaults, k) == lookup(self.values, k)]
        # Booleans the chart needs on to render the rest stay at their default.
        self.assertEqual(
            sorted(changed),
            sorted(["certManager.enabled", "podDisruptionBudget.enabled", "rbac.create", "rules.default", "rules.existing", "serviceAccount.create", "service.type"]),
        )

    def test_the_schema_knows_every_key(self) -> None:
        import json

        schema = json.loads((render.CHART / "values.schema.json").read_text())
        for key in keys(self.values):
            node = schema
            for part in key.split("."):
                self.assertIn(part, node.get("properties", {}), key)
                node = node["properties"][part]

    def test_names_namespace_and_labels(self) -> None:
        for obj in self.objects:
            meta = obj["metadata"]
            if obj["kind"] == "ConfigMap" and meta["name"].startswith("metrics-adapter-extra"):
                continue
            self.assertEqual(meta["labels"]["cost-center"], "metrics", meta["name"])
            self.assertEqual(meta["annotations"]["example.com/contact"], "platform@example.com", meta["name"])
            # kube-system (the auth reader binding) and Grafana's namespace are elsewhere on purpose.
            if meta.get("namespace") not in (None, "kube-system", "grafana"):
                self.assertEqual(meta["namespace"], "metrics", meta["name"])
        self.assertEqual(self.deployment["metadata"]["name"], "custom-metrics-apiserver")
        self.assertEqual(self.deployment["metadata"]["labels"]["app.kubernetes.io/name"], "adapter")

    def test_image(self) -> None:
        self.assertEqual(self.container["image"], "registry.example.com/platform/metrics-adapter:0.1.0-rc.1")
        self.assertEqual(self.container["imagePullPolicy"], "Always")
        self.assertEqual(self.pod["imagePullSecrets"], [{"name": "regcred"}, {"name": "mirror-cred"}])

    def test_args(self) -> None:
        self.assertEqual(
            self.container["args"],
            [
                "--secure-port=8443",
                "--tls-cert-file=/var/run/serving-cert/tls.crt",
                "--tls-private-key-file=/var/run/serving-cert/tls.key",
                "--cert-dir=/tmp/cert",
                # The url is a template; .Release.Namespace is the release's, not namespaceOverride.
                "--prometheus-url=http://prometheus-operated.monitoring.svc:9091/prometheus",
                "--metrics-relist-interval=30s",
                "--v=4",
                "--config=/etc/adapter/config.yaml",
                "--shutdown-drain-timeout=20s",
                "--prometheus-header=X-Scope-OrgID=tenant-1",
                "--metrics-on-miss-interval=2s",
                "--config-reload-interval=5s",
            ],
        )
        self.assertEqual(self.container["ports"], [{"name": "https", "containerPort": 8443, "protocol": "TCP"}])

    def test_pod_spec_keys(self) -> None:
        v = self.values
        self.assertEqual(self.deployment["spec"]["replicas"], 3)
        self.assertEqual(self.deployment["spec"]["strategy"], v["strategy"])
        self.assertEqual(self.deployment["metadata"]["annotations"]["example.com/owner"], "platform")
        template = self.deployment["spec"]["template"]["metadata"]
        self.assertEqual(template["labels"]["team"], "platform")
        self.assertEqual(template["annotations"], v["podAnnotations"])
        for key in ("affinity", "topologySpreadConstraints", "nodeSelector", "tolerations", "priorityClassName", "dnsConfig", "dnsPolicy", "terminationGracePeriodSeconds"):
            self.assertEqual(self.pod[key], v[key], key)
        # Helm merges a values map over the chart's default map, as it does for the community
        # chart: the user's keys win, the chart's other keys stay.
        self.assertLessEqual(v["podSecurityContext"].items(), self.pod["securityContext"].items())
        self.assertTrue(self.pod["hostNetwork"])
        self.assertEqual(self.pod["serviceAccountName"], "metrics-adapter-sa")
        self.assertEqual(self.pod["containers"][1:], v["extraContainers"])
        self.assertIn(v["extraVolumes"][0], self.pod["volumes"])
        for key in ("env", "resources", "lifecycle"):
            self.assertEqual(self.container[key], v[key], key)
        for key in ("securityContext", "livenessProbe", "readinessProbe", "startupProbe"):
            self.assertLessEqual(v[key].items(), self.container[key].items(), key)
        self.assertIn(v["extraVolumeMounts"][0], self.container["volumeMounts"])

    def test_service_and_service_account(self) -> None:
        service = one(self.objects, "Service")["spec"]
        self.assertEqual(service["clusterIP"], "10.96.100.10")
        self.assertEqual(service["ipFamilies"], ["IPv4", "IPv6"])
        self.assertEqual(service["ipFamilyPolicy"], "RequireDualStack")
        self.assertEqual(service["ports"][0]["port"], 8443)
        self.assertEqual(one(self.objects, "Service")["metadata"]["annotations"]["service.kubernetes.io/topology-mode"], "Auto")
        account = one(self.objects, "ServiceAccount")
        self.assertEqual(account["metadata"]["name"], "metrics-adapter-sa")
        self.assertFalse(account["automountServiceAccountToken"])
        self.assertIn("eks.amazonaws.com/role-arn", account["metadata"]["annotations"])
        # The pod mounts the token anyway: the adapter needs it.
        self.assertTrue(self.pod["automountServiceAccountToken"])

    def test_rbac(self) -> None:
        roles = {o["metadata"]["name"]: o for o in of_kind(self.objects, "ClusterRole")}
        reader = roles["custom-metrics-apiserver-resource-reader"]
        self.assertIn(self.values["rbac"]["extraRules"][0], reader["rules"])
        self.assertEqual(roles["custom-metrics-apiserver-server-resources"]["rules"][0]["resources"], self.values["rbac"]["customMetrics"]["resources"])
        self.assertEqual(roles["custom-metrics-apiserver-external-metrics"]["rules"][0]["resources"], ["redis_queue_depth"])
        auth_reader = one(self.objects, "RoleBinding", "custom-metrics-apiserver-auth-reader")
        self.assertEqual(auth_reader["metadata"]["namespace"], "kube-system")
        self.assertEqual(auth_reader["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "custom-metrics-apiserver-auth-reader"})
        self.assertEqual(roles["custom-metrics-apiserver-auth-reader"]["rules"][0]["resourceNames"], ["extension-apiserver-authentication"])
        for binding in of_kind(self.objects, "ClusterRoleBinding") + of_kind(self.objects, "RoleBinding"):
            self.assertIn(binding["roleRef"]["name"], set(roles) | {"system:auth-delegator"}, binding["metadata"]["name"])

    def test_rules(self) -> None:
        rules = rules_file(self.objects)
        self.assertEqual(rules["rules"][-1], self.values["rules"]["custom"][0])
        self.assertEqual(len(rules["rules"]), 7)
        self.assertEqual(rules["externalRules"], self.values["rules"]["external"])
        self.assertEqual(rules["resourceRules"], self.values["rules"]["resource"])

    def test_disruption_budget(self) -> None:
        pdb = one(self.objects, "PodDisruptionBudget")["spec"]
        self.assertEqual(pdb["minAvailable"], 2)
        self.assertNotIn("maxUnavailable", pdb)
        self.assertEqual(pdb["unhealthyPodEvictionPolicy"], "AlwaysAllow")

    def test_service_monitor_scrapes_metrics_over_https_with_a_scraper_role(self) -> None:
        monitor = one(self.objects, "ServiceMonitor")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack")
        endpoint = monitor["spec"]["endpoints"][0]
        sm = self.values["serviceMonitor"]
        self.assertEqual((endpoint["port"], endpoint["scheme"], endpoint["path"]), ("https", "https", "/metrics"))
        for key in ("interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings", "tlsConfig"):
            self.assertEqual(endpoint[key], sm[key], key)
        self.assertEqual(monitor["spec"]["selector"]["matchLabels"], self.deployment["spec"]["selector"]["matchLabels"])
        self.assertEqual(monitor["spec"]["namespaceSelector"], {"matchNames": ["metrics"]})
        scraper = one(self.objects, "ClusterRole", "custom-metrics-apiserver-metrics-scraper")
        self.assertEqual(scraper["rules"], [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
        binding = one(self.objects, "ClusterRoleBinding", "custom-metrics-apiserver-metrics-scraper")
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}])

    def test_the_grafana_dashboard_ships_in_a_configmap_for_the_sidecar(self) -> None:
        import json

        dashboard = one(self.objects, "ConfigMap", "custom-metrics-apiserver-dashboard")
        meta = dashboard["metadata"]
        self.assertEqual(meta["namespace"], "grafana")
        self.assertEqual(meta["labels"]["grafana_dashboard"], "1")
        self.assertEqual(meta["annotations"]["grafana_folder"], "Kubernetes")
        shipped = json.loads(dashboard["data"]["metrics-adapter.json"])
        on_disk = json.loads((render.ROOT / "deploy" / "dashboards" / "metrics-adapter.json").read_text())
        self.assertEqual(shipped, on_disk)

    def test_network_policy(self) -> None:
        policy = one(self.objects, "NetworkPolicy")["spec"]
        self.assertEqual(policy["policyTypes"], ["Ingress", "Egress"])
        self.assertEqual(policy["ingress"], [{"ports": [{"port": 8443, "protocol": "TCP"}], "from": self.values["networkPolicy"]["ingressFrom"]}])
        self.assertEqual(policy["egress"], self.values["networkPolicy"]["egress"])
        self.assertEqual(policy["podSelector"]["matchLabels"], self.deployment["spec"]["selector"]["matchLabels"])

    def test_extra_manifests_are_templates(self) -> None:
        extra = {o["metadata"]["name"]: o for o in of_kind(self.objects, "ConfigMap")}
        self.assertEqual(extra["metrics-adapter-extra"]["data"], {"release": "metrics-adapter"})
        self.assertEqual(extra["metrics-adapter-extra-text"]["data"], {"chart": "metrics-adapter"})

    def test_psp_is_not_rendered_where_the_cluster_has_none(self) -> None:
        self.assertEqual(of_kind(self.objects, "PodSecurityPolicy"), [])


class DisruptionBudget(unittest.TestCase):
    def test_min_available_wins_over_the_default_max_unavailable(self) -> None:
        # A community values file that sets only minAvailable keeps maxUnavailable's default.
        pdb = one(rendered_values({"podDisruptionBudget": {"minAvailable": "50%"}}), "PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["minAvailable"], "50%")
        self.assertNotIn("maxUnavailable", pdb["spec"])

    def test_disabled(self) -> None:
        objects = rendered_values({"podDisruptionBudget": {"enabled": False}})
        self.assertEqual(of_kind(objects, "PodDisruptionBudget"), [])


class Capabilities(unittest.TestCase):
    def test_psp_on_a_cluster_that_still_serves_it(self) -> None:
        # Kubernetes 1.24 serves policy/v1beta1 PodSecurityPolicy; kubernetes-validate has no
        # schemas that old, so these objects are checked here, not validated.
        objects = render.render(
            {"psp": {"create": True}},
            kube_version="v1.24.17",
            api_versions=["policy/v1beta1", "policy/v1beta1/PodSecurityPolicy"],
        )
        psp = one(objects, "PodSecurityPolicy")
        self.assertEqual(psp["spec"]["runAsUser"], {"rule": "MustRunAsNonRoot"})
        role = one(objects, "ClusterRole", "metrics-adapter-psp")
        self.assertEqual(role["rules"][0]["resourceNames"], [psp["metadata"]["name"]])
        binding = one(objects, "RoleBinding", "metrics-adapter-psp")
        self.assertEqual(binding["subjects"][0]["name"], "metrics-adapter")

    def test_the_newest_kubernetes(self) -> None:
        newest = render.newest_kubernetes()
        objects = render.render(render.load_values(["every-key.yaml"]), kube_version="v" + newest)
        self.assertEqual(render.validate(objects, [newest]), [newest])

    def test_the_chart_refuses_kubernetes_before_1_21(self) -> None:
        with self.assertRaises(render.RenderError):
            render.render(None, kube_version="v1.20.0")


class Refusals(unittest.TestCase):
    """Values the chart refuses at render time, with a message naming the keys."""

    def assert_refused(self, values: dict[str, Any], needle: str) -> None:
        with self.assertRaises(render.RenderError) as caught:
            render.render(values)
        self.assertIn(needle, str(caught.exception))

    def test_a_grace_period_shorter_than_the_drain(self) -> None:
        self.assert_refused({"terminationGracePeriodSeconds": 30}, "terminationGracePeriodSeconds (30)")
        self.assert_refused(
            {"terminationGracePeriodSeconds": 33, "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}},
            "the preStop sleep (5)",
        )

    def test_two_sources_of_the_serving_certificate(self) -> None:
        tls = render.load_values(["tls.yaml"])
        tls["certManager"] = {"enabled": True}
        self.assert_refused(tls, "tls.enable and certManager.enabled")

    def test_tls_without_its_pem(self) -> None:
        self.assert_refused({"tls": {"enable": True, "ca": "x"}}, "tls.ca, tls.key and tls.certificate")

    def test_a_budget_without_bounds(self) -> None:
        self.assert_refused(
            {"podDisruptionBudget": {"minAvailable": None, "maxUnavailable": None}},
            "needs minAvailable or maxUnavailable",
        )

    def test_schema_types(self) -> None:
        self.assert_refused({"replicas": "two"}, "replicas")
        self.assert_refused({"rules": {"custom": {"seriesQuery": "x"}}}, "custom")
        self.assert_refused({"listenPort": 70000}, "listenPort")

    def test_unknown_keys_are_accepted(self) -> None:
        # A values file written for another version of the community chart still installs.
        objects = render.render({"someKeyFromAnotherChartVersion": {"x": 1}})
        self.assertEqual(apiservices(objects), CUSTOM)


class PlainManifests(unittest.TestCase):
    def test_deploy_is_what_the_chart_renders(self) -> None:
        self.assertEqual(render.deploy(check=True), 0, "deploy/ differs from the chart: run scripts/render-deploy")


def lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[part]
    return tree


if __name__ == "__main__":
    unittest.main(verbosity=2)
