{{/*
Skald's configuration file (Loki's format), the structure of the config.yaml files of deploy/microservices and deploy/simple-scalable:
generated from the values, then `skald.structuredConfig` deep-merged over it.
*/}}
{{- define "skald.config" -}}
{{- $storage := .Values.skald.storage }}
{{- $mode := .Values.deploymentMode }}
{{- $schedulerComponent := get (dict "SimpleScalable" "backend" "Distributed" "query-scheduler") $mode }}
{{- $generated := include "skald.generatedConfig" (dict "root" . "storage" $storage "mode" $mode "scheduler" $schedulerComponent) | fromYaml }}
{{- if hasKey $generated "Error" }}
{{- fail (printf "the generated configuration is not YAML: %s" $generated.Error) }}
{{- end }}
{{- mergeOverwrite $generated (deepCopy .Values.skald.structuredConfig) | toYaml }}
{{- end }}

{{- define "skald.generatedConfig" -}}
{{- $root := .root }}
{{- $storage := .storage }}
auth_enabled: {{ $root.Values.skald.authEnabled }}
server:
  http_listen_port: 3100
  grpc_listen_port: 9095
  grpc_server_max_recv_msg_size: 104857600
  grpc_server_max_send_msg_size: 104857600
common:
  path_prefix: /var/skald
  replication_factor: {{ include "skald.replicationFactor" $root }}
  {{- if eq $storage.type "filesystem" }}
  storage:
    filesystem:
      chunks_directory: {{ $storage.filesystem.directory }}
  {{- end }}
memberlist:
  join_members:
    - {{ printf "%s-gossip.%s.svc.%s:7946" (include "skald.fullname" $root) $root.Release.Namespace $root.Values.clusterDomain }}
ingester:
  lifecycler:
    tokens_file_path: /var/skald/tokens.json
    ring:
      heartbeat_timeout: 1m
querier:
  max_concurrent: 4
{{- if .scheduler }}
frontend:
  scheduler_address: {{ include "skald.serviceAddress" (list $root .scheduler) }}:9095
frontend_worker:
  scheduler_address: {{ include "skald.serviceAddress" (list $root .scheduler) }}:9095
{{- end }}
compactor:
  retention_enabled: {{ $root.Values.skald.retention.enabled }}
limits_config:
  {{- if $root.Values.skald.retention.enabled }}
  retention_period: {{ $root.Values.skald.retention.period }}
  {{- end }}
  split_queries_by_interval: 1h
{{- if eq $storage.type "s3" }}
storage_config:
  aws:
    {{- with $storage.s3.endpoint }}
    endpoint: {{ . | quote }}
    {{- end }}
    bucketnames: {{ $storage.bucketNames.chunks | quote }}
    region: {{ $storage.s3.region | quote }}
    {{- if include "skald.s3CredentialsSecret" $root }}
    access_key_id: ${AWS_ACCESS_KEY_ID}
    secret_access_key: ${AWS_SECRET_ACCESS_KEY}
    {{- end }}
    s3forcepathstyle: {{ $storage.s3.s3ForcePathStyle }}
    insecure: {{ $storage.s3.insecure }}
{{- end }}
schema_config:
  configs:
    - from: {{ $root.Values.skald.schemaFrom | quote }}
      store: tsdb
      object_store: {{ $storage.type }}
      schema: v13
      index:
        prefix: index_
        period: 24h
{{- end }}
