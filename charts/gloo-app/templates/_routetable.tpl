{{/* The RouteTable with the seed's routes (rendered inside list.yaml; empty without routes.primary.version). */}}
{{- define "gloo-app.routetable" -}}
{{- $prefix := include "gloo-app.prefix" . -}}
{{- $canary := .Values.routes.canary -}}
{{- $primary := .Values.routes.primary.version -}}
{{- if and .Values.deployment (not $primary) }}
{{- fail "routes.primary.version is not set: name the version (a key of `deployment`) that takes the traffic, e.g. routes: {primary: {version: v1}}" }}
{{- end }}
{{- if and $canary (eq ($canary.version | toString) ($primary | toString)) }}
{{- fail (printf "routes.canary.version %s is also routes.primary.version: a canary must be another version of `deployment`" $primary) }}
{{- end }}
{{- if $primary }}
apiVersion: gateway.solo.io/v1
kind: RouteTable
metadata:
  name: {{ .Release.Name }}-routes
  namespace: {{ .Release.Namespace }}
  annotations:
    # The state the routes express, as kubectl canary records it (SPEC 1), so `kubectl canary status`
    # and `list` read a release like any service they manage.
    kubectl-canary.io/service: {{ .Release.Name }}
    kubectl-canary.io/primary: {{ $primary | quote }}
    {{- if $canary }}
    kubectl-canary.io/phase: {{ ternary "weighted" "header" (gt (int ($canary.weight | default 0)) 0) }}
    kubectl-canary.io/canary: {{ $canary.version | quote }}
    kubectl-canary.io/weight: {{ $canary.weight | default 0 | int | quote }}
    {{- else }}
    kubectl-canary.io/phase: stable
    {{- end }}
  {{- with .Values.routes.apiGroup }}
  labels:
    apiGroup: {{ . | quote }}
  {{- end }}
spec:
  routes:
  {{- if $canary }}
  - matchers:
    - headers:
      {{- range $headerName, $headerValue := $canary.headers }}
      - name: {{ $headerName | quote }}
        value: {{ $headerValue | quote }}
      {{- end }}
      prefix: {{ $prefix | quote }}
    routeAction:
      single:
        {{- include "gloo-app.destination" (list $ $canary.version) | nindent 8 }}
  {{- end }}
  - matchers:
    - prefix: {{ $prefix | quote }}
    routeAction:
    {{- if $canary }}
      multi:
        destinations:
        - destination:
            {{- include "gloo-app.destination" (list $ $primary) | nindent 12 }}
          weight: {{ sub 100 ($canary.weight | default 0) }}
        - destination:
            {{- include "gloo-app.destination" (list $ $canary.version) | nindent 12 }}
          weight: {{ add 0 ($canary.weight | default 0) }}
    {{- else }}
      single:
        {{- include "gloo-app.destination" (list $ $primary) | nindent 8 }}
    {{- end }}
{{- end }}
{{- end -}}
