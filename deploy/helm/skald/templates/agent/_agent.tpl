{{- define "skald.agent.name" -}}
{{- printf "%s-agent" (include "skald.fullname" .) }}
{{- end }}

{{- define "skald.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "skald.agent.name" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the agent pushes: this release's distributor, write or single-binary Service. */}}
{{- define "skald.agent.clientUrl" -}}
{{- if .Values.agent.clientUrl }}
{{- .Values.agent.clientUrl }}
{{- else }}
{{- printf "http://%s:3100/loki/api/v1/push" (include "skald.serviceAddress" (list . (include "skald.pushComponent" .))) }}
{{- end }}
{{- end }}

{{/* The agent's configuration (Promtail's format), as deploy/agent/agent.yaml. */}}
{{- define "skald.agent.config" -}}
server:
  http_listen_port: 9080
positions:
  filename: /var/lib/skald-agent/positions.yaml
clients:
  - url: {{ include "skald.agent.clientUrl" . }}
    {{- if .Values.skald.authEnabled }}
    tenant_id: {{ .Values.agent.tenantId | quote }}
    {{- end }}
scrape_configs:
  - job_name: kubernetes-pods
    pipeline_stages:
      - cri: {}
    {{- if eq .Values.agent.discovery "files" }}
    # The kubelet's layout <namespace>_<pod>_<uid>/<container>/*.log: no API access.
    kubernetes_pod_logs:
      path: /var/log/pods
    {{- else }}
    # This node's pods from the Kubernetes API (the agent asks for spec.nodeName=$HOSTNAME).
    kubernetes_sd_configs:
      - role: pod
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_label_app]
        regex: ^;*([^;]+)(;.*)?$
        target_label: app
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component, __meta_kubernetes_pod_label_component]
        regex: ^;*([^;]+)(;.*)?$
        target_label: component
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
      - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
      - {source_labels: [__meta_kubernetes_pod_node_name], target_label: node_name}
      - source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]
        separator: /
        target_label: __path__
        replacement: /var/log/pods/*$1/*.log
    {{- end }}
  {{- with .Values.agent.extraScrapeConfigs }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
