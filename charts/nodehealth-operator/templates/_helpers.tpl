{{/* The chart name, or nameOverride. */}}
{{- define "nodehealth-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of every resource: fullnameOverride, or <release>-<chart> (the release alone when it contains the chart name). */}}
{{- define "nodehealth-operator.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "nodehealth-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's pods (stable across upgrades). */}}
{{- define "nodehealth-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodehealth-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object the chart renders, whatever its part: the standard ones and commonLabels. */}}
{{- define "nodehealth-operator.baseLabels" -}}
helm.sh/chart: {{ include "nodehealth-operator.chart" . }}
{{ include "nodehealth-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Standard labels of every resource of the operator (the CRD is component `crd`, the helm test `test`). */}}
{{- define "nodehealth-operator.labels" -}}
{{ include "nodehealth-operator.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "nodehealth-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodehealth-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: the tag defaults to the chart's appVersion, never latest. */}}
{{- define "nodehealth-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image.tag must not be latest: pin a version" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The label that tells a pod's shard. */}}
{{- define "nodehealth-operator.shardLabel" -}}
nodehealth.io/shard
{{- end }}

{{/*
The name of shard k's Deployment and PodDisruptionBudget, from (dict "root" $ "shard" k): with one
shard the full name (chart 0.1's Deployment, kept on upgrade), otherwise <fullname>-shard-<k>.
*/}}
{{- define "nodehealth-operator.shardName" -}}
{{- $fullname := include "nodehealth-operator.fullname" .root }}
{{- if gt (int .root.Values.sharding.shards) 1 }}
{{- printf "%s-shard-%d" $fullname (int .shard) }}
{{- else }}
{{- $fullname }}
{{- end }}
{{- end }}

{{/*
The labels that select shard k's pods, from (dict "root" $ "shard" k). With one shard exactly
selectorLabels: a Deployment's selector is immutable, and chart 0.1's is selectorLabels.
*/}}
{{- define "nodehealth-operator.shardSelectorLabels" -}}
{{ include "nodehealth-operator.selectorLabels" .root }}
{{- if gt (int .root.Values.sharding.shards) 1 }}
{{ include "nodehealth-operator.shardLabel" .root }}: {{ .shard | toString | quote }}
{{- end }}
{{- end }}

{{/* Fails on values the schema cannot judge: leader election's timings, replicas without it. */}}
{{- define "nodehealth-operator.validate" -}}
{{- $le := .Values.leaderElection }}
{{- $lease := int $le.leaseDurationSeconds }}
{{- $renew := int $le.renewDeadlineSeconds }}
{{- $retry := int $le.retryPeriodSeconds }}
{{- /* The operator refuses these timings when it elects; renew > 1.2 x retry, in integers: 5 x renew > 6 x retry. */}}
{{- if and $le.enabled (not (and (gt $lease $renew) (gt (mul 5 $renew) (mul 6 $retry)))) }}
{{- fail (printf "leaderElection: leaseDurationSeconds (%d) must be greater than renewDeadlineSeconds (%d), which must be greater than 1.2 x retryPeriodSeconds (%d)" $lease $renew $retry) }}
{{- end }}
{{- if and (not $le.enabled) (gt (int .Values.replicas) 1) }}
{{- fail (printf "leaderElection.enabled=false needs replicas: 1 (got %d): without leader election every replica writes status and remediates" (int .Values.replicas)) }}
{{- end }}
{{- end }}
