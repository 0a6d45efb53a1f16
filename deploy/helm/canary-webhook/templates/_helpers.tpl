{{/*
Object names are fixed by the kubectl-canary contract (the webhook looks itself up by them), so there
is no fullname helper: one release per cluster.
*/}}

{{- define "canary-webhook.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "canary-webhook.selectorLabels" -}}
app.kubernetes.io/name: canary-webhook
{{- end }}

{{- define "canary-webhook.labels" -}}
{{ include "canary-webhook.selectorLabels" . }}
app.kubernetes.io/part-of: kubectl-canary
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "canary-webhook.chart" . }}
{{- end }}

{{- define "canary-webhook.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* "true" when the webhook manages its own certificate and caBundle. */}}
{{- define "canary-webhook.selfManagedTLS" -}}
{{- if eq .Values.tls.mode "self-managed" }}true{{ end }}
{{- end }}

{{/*
The namespaces the webhooks intercept: never the excluded ones nor the release namespace, and only
those matching .Values.namespaceSelector when it is set.
*/}}
{{- define "canary-webhook.namespaceSelector" -}}
{{- $exclude := concat .Values.excludeNamespaces (list .Release.Namespace) | uniq -}}
{{- $expressions := list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $exclude) -}}
{{- $selector := dict "matchExpressions" (concat $expressions (.Values.namespaceSelector.matchExpressions | default list)) -}}
{{- with .Values.namespaceSelector.matchLabels }}
{{- $_ := set $selector "matchLabels" . -}}
{{- end }}
{{- toYaml $selector }}
{{- end }}

{{/* clientConfig of a webhook; call with (dict "root" $ "path" "/mutate"). */}}
{{- define "canary-webhook.clientConfig" -}}
service:
  name: canary-webhook
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- end }}

{{/* cert-manager's cainjector fills caBundle from this Certificate's CA. */}}
{{- define "canary-webhook.webhookAnnotations" -}}
{{- if not (include "canary-webhook.selfManagedTLS" .) }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/canary-webhook
{{- end }}
{{- end }}

{{/* Skip UPDATEs that change neither spec nor labels nor annotations (Gloo's status writes); see
deploy/base/validatingwebhookconfiguration.yaml. */}}
{{- define "canary-webhook.matchConditions" -}}
- name: changes-spec-labels-or-annotations
  expression: >-
    request.operation != 'UPDATE' ||
    (has(object.spec) ? object.spec : {}) != (has(oldObject.spec) ? oldObject.spec : {}) ||
    (has(object.metadata.labels) ? object.metadata.labels : {}) !=
    (has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}) ||
    (has(object.metadata.annotations) ? object.metadata.annotations : {}) !=
    (has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {})
{{- end -}}
