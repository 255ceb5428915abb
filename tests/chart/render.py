#!/usr/bin/env python3
"""Render the Helm chart with Helm's own engine and validate every object it renders.

Rendering goes through helm-python-sdk's native library (Helm's Go SDK, no helm binary), called
with a Kubernetes version and a set of API versions so that `.Capabilities` answers as a cluster
of that version would. Every rendered object is validated strictly (unknown fields are errors)
against the Kubernetes OpenAPI schemas of kubernetes-validate for Kubernetes 1.29 and for the
newest version it knows; the custom resources the chart can render (ServiceMonitor,
cert-manager's Certificate and Issuer) are validated against the strict schemas in
crd-schemas/, which cover the fields of those CRDs the chart writes.

Usage:
  render.py objects [--values FILE]... [--kube-version V] [--api-versions A,B] [--no-validate]
      print the rendered objects as a JSON list, in the order Helm installs them
  render.py deploy [--check]
      write deploy/metrics-adapter.yaml and deploy/resource-metrics/metrics-adapter.yaml from
      the chart (or, with --check, exit 1 with a diff when they differ from what it renders)
"""

from __future__ import annotations

import argparse
import base64
import copy
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "metrics-adapter"
HERE = Path(__file__).resolve().parent
VALUES = HERE / "values"
CRD_SCHEMAS = HERE / "crd-schemas"

# The oldest Kubernetes the shipped objects are checked against, and the newest one
# kubernetes-validate knows (looked up at run time).
OLDEST_KUBERNETES = "1.29.0"

RELEASE = "metrics-adapter"
NAMESPACE = "monitoring"

# Helm's install order (pkg/release/util/kind_sorter.go): the order `helm install` creates
# objects in, which is also the order the plain manifests list them so that `kubectl apply`
# creates the namespace first and registers the APIServices last.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]

# Custom resources: (apiVersion, kind) -> schema file in crd-schemas/.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("cert-manager.io/v1", "Certificate"): "certificate-cert-manager-v1.json",
    ("cert-manager.io/v1", "Issuer"): "issuer-cert-manager-v1.json",
}


class RenderError(Exception):
    """The chart refused the values (a template `fail`, a schema error) or rendered bad YAML."""


class InvalidObject(Exception):
    """A rendered object that a Kubernetes API server would reject."""


def load_values(paths: Iterable[Path | str]) -> dict[str, Any]:
    """Values files merged as `helm -f a -f b` merges them: maps deeply, the rest replaced."""
    merged: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_absolute() and not path.exists():
            path = VALUES / path
        loaded = yaml.safe_load(path.read_text()) or {}
        merged = merge(merged, loaded)
    return merged


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(
    values: dict[str, Any] | None = None,
    *,
    kube_version: str = "v" + OLDEST_KUBERNETES,
    api_versions: Iterable[str] = (),
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[dict[str, Any]]:
    """The chart's objects for these values, in Helm's install order."""
    import helm_python
    from helm_python import _native

    chart = helm_python.Chart.load(CHART)
    options = {
        "name": name,
        "namespace": namespace,
        "is_install": True,
        "kube_version": kube_version,
        "api_versions": list(api_versions),
    }
    try:
        # Chart.render does not pass kube_version and api_versions through; the native call
        # takes them in its options document.
        rendered = json.loads(
            _native.call_string(
                "helm_render",
                chart._raw(),
                json.dumps(values) if values is not None else None,
                json.dumps(options),
            )
        )
    except helm_python.HelmError as e:
        raise RenderError(str(e)) from e
    finally:
        chart.close()
    objects = []
    for template in sorted(rendered):
        if template.endswith("NOTES.txt"):
            continue
        try:
            documents = list(yaml.safe_load_all(rendered[template]))
        except yaml.YAMLError as e:
            raise RenderError(f"{template}: not YAML: {e}\n{rendered[template]}") from e
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document:
                raise RenderError(f"{template}: not a Kubernetes object: {document!r}")
            document.setdefault("_template", template)
            objects.append(document)
    return sort_for_install(objects)


def sort_for_install(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def rank(obj: dict[str, Any]) -> int:
        kind = obj.get("kind")
        return INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)

    return sorted(objects, key=rank)


def strip_private(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# RBAC object names are path segments: anything but "/", "%", "." and "..".
RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
# Objects whose name the API server checks as a DNS label rather than a subdomain.
DNS_LABEL_KINDS = {"Service", "Namespace"}


def check_metadata(obj: dict[str, Any]) -> None:
    """Name and label rules the OpenAPI schemas do not express but the API server enforces."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    kind = obj["kind"]
    if kind in RBAC_KINDS:
        if not name or "/" in name or "%" in name or name in (".", ".."):
            raise InvalidObject(f"{kind} {name!r}: not a valid RBAC name")
    elif kind in DNS_LABEL_KINDS:
        if len(name) > 63 or not DNS_LABEL.match(name):
            raise InvalidObject(f"{kind} {name!r}: not a DNS-1123 label")
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        raise InvalidObject(f"{kind} {name!r}: not a DNS-1123 subdomain")
    namespace = meta.get("namespace")
    if namespace is not None and (len(namespace) > 63 or not DNS_LABEL.match(namespace)):
        raise InvalidObject(f"{kind} {name}: namespace {namespace!r} is not a DNS-1123 label")
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if (prefix and not DNS_SUBDOMAIN.match(prefix)) or len(label) > 63 or not LABEL_NAME.match(label):
            raise InvalidObject(f"{kind} {name}: label key {key!r} is invalid")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            raise InvalidObject(f"{kind} {name}: label {key}={value!r} is invalid")
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            raise InvalidObject(f"{kind} {name}: annotation {key} is not a string: {value!r}")


def newest_kubernetes() -> str:
    from kubernetes_validate import utils

    return utils.latest_version()


def validate(objects: list[dict[str, Any]], versions: Iterable[str] | None = None) -> list[str]:
    """Validate every object strictly for each Kubernetes version; the versions checked."""
    import jsonschema
    from kubernetes_validate import utils

    versions = list(versions) if versions is not None else [OLDEST_KUBERNETES, newest_kubernetes()]
    for obj in objects:
        clean = strip_private(obj)
        label = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')} ({obj.get('_template')})"
        check_metadata(clean)
        crd = CRD_KINDS.get((clean.get("apiVersion"), clean.get("kind")))
        if crd is not None:
            schema = json.loads((CRD_SCHEMAS / crd).read_text())
            errors = sorted(
                jsonschema.Draft202012Validator(schema).iter_errors(clean), key=lambda e: list(e.path)
            )
            if errors:
                raise InvalidObject(
                    label + ": " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
                )
            continue
        for version in versions:
            try:
                utils.validate(clean, version, strict=True)
            except utils.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                raise InvalidObject(f"{label}: Kubernetes {version}: {path}: {e.message}") from e
            except utils.SchemaNotFoundError as e:
                raise InvalidObject(f"{label}: {e.message}") from e
    return versions


# The plain manifests: (file under deploy/, values files under tests/chart/values/).
DEPLOY_FILES = [
    ("metrics-adapter.yaml", ["deploy.yaml"]),
    ("resource-metrics/metrics-adapter.yaml", ["deploy.yaml", "deploy-resource-metrics.yaml"]),
]

DEPLOY_HEADERS = {
    "metrics-adapter.yaml": """\
# metrics-adapter in namespace `monitoring`: two replicas serving custom.metrics.k8s.io (v1beta2
# and v1beta1) from the community chart's default rules (the ConfigMap `metrics-adapter`, a
# prometheus-adapter rules file). Set --prometheus-url and the rules, then
#   kubectl apply -f deploy/
# It registers only the APIs these rules serve. With externalRules, apply an APIService for
# v1beta1.external.metrics.k8s.io too (or use the Helm chart, which registers it itself); for
# metrics.k8s.io (kubectl top, CPU and memory HPAs, in place of metrics-server) apply
# deploy/resource-metrics/ instead of this file.
""",
    "resource-metrics/metrics-adapter.yaml": """\
# metrics-adapter in namespace `monitoring` serving custom.metrics.k8s.io and, in place of
# metrics-server, metrics.k8s.io (kubectl top, CPU and memory HPAs) from resourceRules over
# the kubelet's cAdvisor and resource metrics. The same objects as deploy/metrics-adapter.yaml
# with those rules and the v1beta1.metrics.k8s.io APIService added. Only one server can own
# that APIService: remove metrics-server first (see the README), then
#   kubectl apply -f deploy/resource-metrics/
""",
}

GENERATED_NOTE = """\
# Generated from the Helm chart deploy/helm/metrics-adapter by scripts/render-deploy; edit the
# chart or tests/chart/values/deploy*.yaml and run it again (a test checks they agree).
"""

# Labels that say Helm manages an object: false for objects applied with kubectl.
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def plain(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered objects as plain manifests: a Namespace first, no Helm ownership labels."""
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for obj in objects:
        obj = strip_private(obj)
        labels = obj.get("metadata", {}).get("labels")
        if labels:
            for key in HELM_LABELS:
                labels.pop(key, None)
        out.append(obj)
    return sort_for_install(out)


class ManifestDumper(yaml.SafeDumper):
    """YAML as people write manifests: multi-line strings (the rules file) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


ManifestDumper.add_representer(str, _represent_str)


def deploy_text(file: str, values_files: list[str]) -> str:
    objects = render(load_values(values_files))
    validate(objects)
    manifests = plain(objects)
    body = "---\n".join(yaml.dump(obj, Dumper=ManifestDumper, sort_keys=False, width=100) for obj in manifests)
    return DEPLOY_HEADERS[file] + GENERATED_NOTE + body


def deploy(check: bool) -> int:
    differences = []
    for file, values_files in DEPLOY_FILES:
        path = ROOT / "deploy" / file
        text = deploy_text(file, values_files)
        if check:
            current = path.read_text() if path.exists() else ""
            if current != text:
                differences.append(
                    "".join(
                        difflib.unified_diff(
                            current.splitlines(keepends=True),
                            text.splitlines(keepends=True),
                            f"deploy/{file}",
                            f"deploy/{file} rendered from the chart",
                        )
                    )
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote deploy/{file}")
    if differences:
        print("".join(differences))
        print("deploy/ is not what the chart renders: run scripts/render-deploy", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    objects = sub.add_parser("objects", help="print the rendered objects as JSON")
    objects.add_argument("--values", action="append", default=[], help="a values file (repeatable)")
    objects.add_argument("--kube-version", default="v" + OLDEST_KUBERNETES)
    objects.add_argument("--api-versions", default="", help="comma-separated, as helm's --api-versions")
    objects.add_argument("--no-validate", action="store_true")
    deploy_parser = sub.add_parser("deploy", help="write (or --check) the plain manifests in deploy/")
    deploy_parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "deploy":
        return deploy(args.check)
    api_versions = [a for a in args.api_versions.split(",") if a]
    try:
        rendered = render(load_values(args.values), kube_version=args.kube_version, api_versions=api_versions)
        if not args.no_validate:
            validate(rendered)
    except (RenderError, InvalidObject) as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    json.dump([strip_private(o) for o in rendered], sys.stdout, indent=1)
    print()
    return 0


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
