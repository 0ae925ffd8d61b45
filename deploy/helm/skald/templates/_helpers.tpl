{{/* Names, labels and the pieces shared by the templates. */}}

{{- define "skald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: every object's name starts with it. */}}
{{- define "skald.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "skald.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "skald.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "skald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "skald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "skald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "skald.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "skald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "skald.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The DNS name of one of the release's Services: (list $ "write"). */}}
{{- define "skald.serviceAddress" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s.%s.svc.%s" (include "skald.fullname" $root) (index . 1) $root.Release.Namespace $root.Values.clusterDomain }}
{{- end }}

{{/*
The workloads of the deployment mode, as a YAML list: the component (its name and
`app.kubernetes.io/component` label), the target it runs, the block of values it
reads, its kind, and `single: true` for the roles that must run as one pod.
*/}}
{{- define "skald.components" -}}
{{- if eq .Values.deploymentMode "SingleBinary" }}
- {name: single-binary, target: all, values: singleBinary, kind: StatefulSet}
{{- else if eq .Values.deploymentMode "SimpleScalable" }}
- {name: write, target: write, values: write, kind: StatefulSet}
- {name: read, target: read, values: read, kind: Deployment}
- {name: backend, target: backend, values: backend, kind: StatefulSet, single: true}
{{- else }}
- {name: distributor, target: distributor, values: distributor, kind: Deployment}
- {name: ingester, target: ingester, values: ingester, kind: StatefulSet}
- {name: querier, target: querier, values: querier, kind: Deployment}
- {name: query-frontend, target: query-frontend, values: queryFrontend, kind: Deployment}
- {name: query-scheduler, target: query-scheduler, values: queryScheduler, kind: Deployment, single: true}
- {name: compactor, target: compactor, values: compactor, kind: StatefulSet, single: true}
{{- end }}
{{- end }}

{{/* The components that receive pushes, and the ones that answer queries, by mode. */}}
{{- define "skald.pushComponent" -}}
{{- get (dict "SingleBinary" "single-binary" "SimpleScalable" "write" "Distributed" "distributor") .Values.deploymentMode }}
{{- end }}
{{- define "skald.queryComponent" -}}
{{- get (dict "SingleBinary" "single-binary" "SimpleScalable" "read" "Distributed" "query-frontend") .Values.deploymentMode }}
{{- end }}
{{/* The pods that hold ingesters, and so bound the replication factor. */}}
{{- define "skald.ingestingValues" -}}
{{- get (dict "SingleBinary" "singleBinary" "SimpleScalable" "write" "Distributed" "ingester") .Values.deploymentMode }}
{{- end }}

{{- define "skald.replicationFactor" -}}
{{- if kindIs "invalid" .Values.skald.replicationFactor }}
{{- ternary 1 3 (eq .Values.deploymentMode "SingleBinary") }}
{{- else }}
{{- .Values.skald.replicationFactor | int }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the S3 credentials come from a Secret, through the environment. */}}
{{- define "skald.s3CredentialsSecret" -}}
{{- $s3 := .Values.skald.storage.s3 }}
{{- if ne .Values.skald.storage.type "s3" }}
{{- else if $s3.existingSecret }}
{{- $s3.existingSecret }}
{{- else if or $s3.accessKeyId $s3.secretAccessKey }}
{{- printf "%s-s3" (include "skald.fullname" .) }}
{{- end }}
{{- end }}

{{/* Refuses values the chart cannot turn into a working deployment, naming them. */}}
{{- define "skald.validate" -}}
{{- $modes := list "SingleBinary" "SimpleScalable" "Distributed" }}
{{- if not (has .Values.deploymentMode $modes) }}
{{- fail (printf "deploymentMode %q is not one of %s" (toString .Values.deploymentMode) (join ", " $modes)) }}
{{- end }}
{{- $storage := .Values.skald.storage }}
{{- if not (has $storage.type (list "s3" "filesystem")) }}
{{- fail (printf "skald.storage.type %q is not one of s3, filesystem" (toString $storage.type)) }}
{{- end }}
{{- if and (eq $storage.type "filesystem") (ne .Values.deploymentMode "SingleBinary") }}
{{- fail (printf "skald.storage.type filesystem needs deploymentMode SingleBinary (%s pods share no disk): set skald.storage.type to s3" .Values.deploymentMode) }}
{{- end }}
{{- if and (eq $storage.type "filesystem") (gt (int .Values.singleBinary.replicas) 1) }}
{{- fail (printf "singleBinary.replicas %d needs skald.storage.type s3: with filesystem storage each pod would hold its own logs" (int .Values.singleBinary.replicas)) }}
{{- end }}
{{- if and (eq $storage.type "s3") (not $storage.bucketNames.chunks) }}
{{- fail "skald.storage.type s3 needs skald.storage.bucketNames.chunks" }}
{{- end }}
{{- if and (eq $storage.type "s3") (not $storage.s3.existingSecret) (ne (empty $storage.s3.accessKeyId) (empty $storage.s3.secretAccessKey)) }}
{{- fail "skald.storage.s3: set both accessKeyId and secretAccessKey, or neither" }}
{{- end }}
{{- $ingesting := index .Values (include "skald.ingestingValues" .) }}
{{- $rf := include "skald.replicationFactor" . | int }}
{{- if or (lt $rf 1) (gt $rf (int $ingesting.replicas)) }}
{{- fail (printf "skald.replicationFactor %d must be between 1 and %s.replicas (%d)" $rf (include "skald.ingestingValues" .) (int $ingesting.replicas)) }}
{{- end }}
{{- range $block := list "backend" "queryScheduler" "compactor" }}
{{- $values := index $.Values $block }}
{{- if and (hasKey $values "replicas") (ne (int $values.replicas) 1) }}
{{- fail (printf "%s.replicas %v: this role runs as exactly one pod" $block $values.replicas) }}
{{- end }}
{{- end }}
{{- if and .Values.agent.enabled (not (has .Values.agent.discovery (list "kubernetes" "files"))) }}
{{- fail (printf "agent.discovery %q is not one of kubernetes, files" (toString .Values.agent.discovery)) }}
{{- end }}
{{- end }}
