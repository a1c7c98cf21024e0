{{/*
The chart's name: the app.kubernetes.io/name label and the Prometheus job.
*/}}
{{- define "aws-flow-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the resources. Truncated at 63 characters (DNS names); the release name
alone when it already contains the chart's name.
*/}}
{{- define "aws-flow-exporter.fullname" -}}
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

{{- define "aws-flow-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "aws-flow-exporter.labels" -}}
helm.sh/chart: {{ include "aws-flow-exporter.chart" . }}
{{ include "aws-flow-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aws-flow-exporter
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "aws-flow-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aws-flow-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The service account the pods run as.
*/}}
{{- define "aws-flow-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aws-flow-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository:tag, or repository@digest.
*/}}
{{- define "aws-flow-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The configuration file's text: a string as written, a map as YAML.
*/}}
{{- define "aws-flow-exporter.config" -}}
{{- if kindIs "string" .Values.config }}
{{- .Values.config }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/*
https when the web configuration serves TLS.
*/}}
{{- define "aws-flow-exporter.scheme" -}}
{{- if and .Values.webConfig (hasKey .Values.webConfig "tls_server_config") }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Where the base of runbook_url in alerts/aws-flow-exporter.rules.yml is rewritten from.
*/}}
{{- define "aws-flow-exporter.defaultRunbookUrlBase" -}}
https://github.com/aws-flow-exporter/aws-flow-exporter/blob/main/docs/runbook.md
{{- end }}
