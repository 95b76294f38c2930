{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "smartlead-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: <release>-<chart>, or the release name alone when it already
contains the chart name.
*/}}
{{- define "smartlead-exporter.fullname" -}}
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

{{- define "smartlead-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "smartlead-exporter.labels" -}}
helm.sh/chart: {{ include "smartlead-exporter.chart" . }}
{{ include "smartlead-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: smartlead-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the pod; never change them after the first install (a Deployment's
selector is immutable).
*/}}
{{- define "smartlead-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartlead-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smartlead-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The Secret that holds the API key. Exactly one of smartlead.apiKey and
smartlead.existingSecret must be set; anything else stops the render with a message that
says what to do.
*/}}
{{- define "smartlead-exporter.validateApiKey" -}}
{{- $hasKey := ne (toString (.Values.smartlead.apiKey | default "")) "" }}
{{- $hasSecret := ne (toString (.Values.smartlead.existingSecret | default "")) "" }}
{{- if and $hasKey $hasSecret }}
{{- fail "smartlead-exporter: both smartlead.apiKey and smartlead.existingSecret are set; set exactly one: smartlead.existingSecret=<name of a Secret you created> (key smartlead.existingSecretKey, default \"api-key\"), or smartlead.apiKey=<key> to let the chart create the Secret" }}
{{- end }}
{{- if not (or $hasKey $hasSecret) }}
{{- fail "smartlead-exporter: no SmartLead API key configured; set exactly one: smartlead.existingSecret=<name of a Secret you created> (key smartlead.existingSecretKey, default \"api-key\"), or smartlead.apiKey=<key> to let the chart create the Secret" }}
{{- end }}
{{- end }}

{{- define "smartlead-exporter.secretName" -}}
{{- include "smartlead-exporter.validateApiKey" . }}
{{- if .Values.smartlead.existingSecret }}
{{- .Values.smartlead.existingSecret }}
{{- else }}
{{- include "smartlead-exporter.fullname" . }}
{{- end }}
{{- end }}

{{- define "smartlead-exporter.secretKey" -}}
{{- if .Values.smartlead.existingSecret }}
{{- .Values.smartlead.existingSecretKey | default "api-key" }}
{{- else -}}
api-key
{{- end }}
{{- end }}

{{/*
Where the key file is mounted. The whole volume is mounted (no subPath), so the kubelet
swaps the file in place when the Secret changes, and the exporter re-reads it before every
poll: a rotated key takes effect without a restart.
*/}}
{{- define "smartlead-exporter.secretMountPath" -}}
/etc/smartlead-exporter/secret
{{- end }}
