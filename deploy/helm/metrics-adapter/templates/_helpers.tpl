{{/* Names, labels, and which metrics APIs the rendered rules serve. */}}

{{- define "metrics-adapter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "metrics-adapter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A name derived from the full name, kept within 63 characters. */}}
{{- define "metrics-adapter.child" -}}
{{- $base := include "metrics-adapter.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base .suffix }}
{{- end }}

{{- define "metrics-adapter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "metrics-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "metrics-adapter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "metrics-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metrics-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "metrics-adapter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "metrics-adapter.selectorLabels" . }}
app.kubernetes.io/component: metrics-adapter
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
metadata.labels and, when there are any, metadata.annotations of an object: the chart's labels,
customAnnotations merged over the object's own annotations (pass them as .annotations).
Called with (dict "root" $ "annotations" $annotations).
*/}}
{{- define "metrics-adapter.meta" -}}
labels:
  {{- include "metrics-adapter.labels" .root | nindent 2 }}
{{- $annotations := merge (dict) (.root.Values.customAnnotations | default dict) (.annotations | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The community chart's default rules (rules.default: true). */}}
{{- define "metrics-adapter.defaultRules" -}}
- seriesQuery: '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
  seriesFilters: []
  resources:
    overrides:
      namespace:
        resource: namespace
      pod:
        resource: pod
  name:
    matches: ^container_(.*)_seconds_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[5m])) by (<<.GroupBy>>)
- seriesQuery: '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
  seriesFilters:
    - isNot: ^container_.*_seconds_total$
  resources:
    overrides:
      namespace:
        resource: namespace
      pod:
        resource: pod
  name:
    matches: ^container_(.*)_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[5m])) by (<<.GroupBy>>)
- seriesQuery: '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
  seriesFilters:
    - isNot: ^container_.*_total$
  resources:
    overrides:
      namespace:
        resource: namespace
      pod:
        resource: pod
  name:
    matches: ^container_(.*)$
    as: ""
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>,container!="POD"}) by (<<.GroupBy>>)
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters:
    - isNot: .*_total$
  resources:
    template: <<.Resource>>
  name:
    matches: ""
    as: ""
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters:
    - isNot: .*_seconds_total
  resources:
    template: <<.Resource>>
  name:
    matches: ^(.*)_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[5m])) by (<<.GroupBy>>)
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters: []
  resources:
    template: <<.Resource>>
  name:
    matches: ^(.*)_seconds_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[5m])) by (<<.GroupBy>>)
{{- end }}

{{/*
The rules file the chart writes into its ConfigMap. The default rules are written as text (so
they read as the community chart's do); the rules from values go through toYaml.
*/}}
{{- define "metrics-adapter.rulesFile" -}}
{{- $custom := .Values.rules.custom | default list }}
{{- if or .Values.rules.default $custom }}
rules:
{{- if .Values.rules.default }}
{{ include "metrics-adapter.defaultRules" . }}
{{- end }}
{{- with $custom }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- with .Values.rules.external }}
externalRules:
{{ toYaml . }}
{{- end }}
{{- with .Values.rules.resource }}
resourceRules:
{{ toYaml . | indent 2 }}
{{- end }}
{{- if not (or .Values.rules.default $custom .Values.rules.external .Values.rules.resource) }}
{}
{{- end }}
{{- end }}

{{/*
Which metrics APIs the adapter serves, as YAML {custom: bool, external: bool, resource: bool}:
from the rules the chart renders, or from rules.existingServes for an existing ConfigMap.
*/}}
{{- define "metrics-adapter.apis" -}}
{{- if .Values.rules.existing }}
{{- $serves := .Values.rules.existingServes | default dict }}
custom: {{ $serves.custom | default false }}
external: {{ $serves.external | default false }}
resource: {{ $serves.resource | default false }}
{{- else }}
custom: {{ or .Values.rules.default (not (empty .Values.rules.custom)) }}
external: {{ not (empty .Values.rules.external) }}
resource: {{ not (empty .Values.rules.resource) }}
{{- end }}
{{- end }}

{{/* The serving certificate's source: "secret" (tls.enable), "cert-manager" or "self-signed". */}}
{{- define "metrics-adapter.servingCert" -}}
{{- if and .Values.tls.enable .Values.certManager.enabled }}
{{- fail "tls.enable and certManager.enabled both provide the serving certificate; set one" }}
{{- else if .Values.tls.enable }}
{{- if not (and .Values.tls.ca .Values.tls.key .Values.tls.certificate) }}
{{- fail "tls.enable needs tls.ca, tls.key and tls.certificate (PEM)" }}
{{- end }}
{{- "secret" }}
{{- else if .Values.certManager.enabled }}
{{- "cert-manager" }}
{{- else }}
{{- "self-signed" }}
{{- end }}
{{- end }}

{{- define "metrics-adapter.servingCertSecret" -}}
{{- if .Values.tls.enable }}
{{- include "metrics-adapter.child" (dict "root" . "suffix" "tls") }}
{{- else }}
{{- include "metrics-adapter.child" (dict "root" . "suffix" "serving-cert") }}
{{- end }}
{{- end }}
