{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "airlock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release already names the chart. */}}
{{- define "airlock.fullname" -}}
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

{{- define "airlock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airlock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "airlock.labels" -}}
helm.sh/chart: {{ include "airlock.chart" . }}
{{ include "airlock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "airlock.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airlock.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "airlock.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
airlock.config is airlock.yaml: .Values.config with the store, the listen
address and the journal key files filled in from the chart's own values.
It fails the render on settings that cannot work in a cluster.
*/}}
{{- define "airlock.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- if hasKey $cfg "store" }}
{{- fail "config.store: do not set it here; set store.existingSecret (a Secret holding the PostgreSQL DSN) and the chart fills it in" }}
{{- end }}
{{- if .Values.store.existingSecret }}
{{- $_ := set $cfg "store" (printf "${%s}" .Values.store.env) }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- fail "store.existingSecret: required when replicaCount > 1 (replicas must share one PostgreSQL store)" }}
{{- else }}
{{- $_ := set $cfg "store" "sqlite:/var/lib/airlock/airlock.db" }}
{{- end }}
{{- $server := default dict (get $cfg "server") }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%v" .Values.service.targetPort) }}
{{- $_ := set $cfg "server" $server }}
{{- if .Values.journalKeys.existingSecret }}
{{- $journal := default dict (get $cfg "journal") }}
{{- $_ := set $journal "checkpoint_key_file" (printf "/var/run/airlock/journal-keys/%s" .Values.journalKeys.checkpointKey) }}
{{- $_ := set $journal "digest_key_file" (printf "/var/run/airlock/journal-keys/%s" .Values.journalKeys.digestKey) }}
{{- $_ := set $cfg "journal" $journal }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- fail "journalKeys.existingSecret: required when replicaCount > 1 (replicas must share the journal's checkpoint and digest keys)" }}
{{- end }}
{{- $identity := default dict (get $cfg "identity") }}
{{- $dev := default dict (get $identity "dev_issuer") }}
{{- if and (get $dev "enabled") (gt (int .Values.replicaCount) 1) }}
{{- fail "config.identity.dev_issuer.enabled: the development issuer is for one local gateway only; point identity.issuer at your cluster's or your IdP's issuer" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
