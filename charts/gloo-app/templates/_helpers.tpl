{{/*
gloo-app.setting: a version's setting, or the chart-wide default when the version does not set it.
Called with (list $config $defaults "key").
*/}}
{{- define "gloo-app.setting" -}}
{{- $config := index . 0 | default dict -}}
{{- $defaults := index . 1 | default dict -}}
{{- $key := index . 2 -}}
{{- if hasKey $config $key -}}{{- index $config $key | toJson -}}{{- else -}}{{- index $defaults $key | toJson -}}{{- end -}}
{{- end -}}

{{/* The route prefix: routes.prefix, or /<release> as in the seed. */}}
{{- define "gloo-app.prefix" -}}
{{- .Values.routes.prefix | default (printf "/%s" .Release.Name) -}}
{{- end -}}

{{/* A destination to one version of the release's Upstream. Called with (list $root $version). */}}
{{- define "gloo-app.destination" -}}
{{- $root := index . 0 -}}
upstream:
  name: {{ $root.Release.Name }}
  namespace: {{ $root.Release.Namespace }}
subset:
  values:
    version: {{ index . 1 | quote }}
{{- end -}}
