{{/* The Upstream (rendered inside list.yaml). */}}
{{- define "gloo-app.upstream" -}}
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  kube:
    selector:
      app: {{ .Release.Name }}
    serviceName: {{ .Release.Name }}
    serviceNamespace: {{ .Release.Namespace }}
    # The seed wrote 8080 (the pods' port); Gloo matches servicePort against the Service's ports, and
    # with 8080 builds a cluster without endpoints (503 no healthy upstream).
    servicePort: {{ .Values.service.port | int }}
    subsetSpec:
      selectors:
      - keys:
        - version
{{- end -}}
