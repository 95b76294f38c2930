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

{{/*
The namespace of every namespaced object: namespaceOverride, else the release's.
*/}}
{{- define "smartlead-exporter.namespace" -}}
{{- .Values.namespaceOverride | default .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smartlead-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object: the chart's own, then commonLabels (which cannot replace the
chart's own: the selector labels must stay what they were at install).
*/}}
{{- define "smartlead-exporter.labels" -}}
{{- $own := dict
  "helm.sh/chart" (include "smartlead-exporter.chart" .)
  "app.kubernetes.io/version" (.Values.image.tag | default .Chart.AppVersion | toString)
  "app.kubernetes.io/component" "exporter"
  "app.kubernetes.io/part-of" "smartlead-exporter"
  "app.kubernetes.io/managed-by" .Release.Service }}
{{- $own = merge $own (include "smartlead-exporter.selectorLabels" . | fromYaml) }}
{{- toYaml (merge $own (deepCopy (.Values.commonLabels | default dict))) }}
{{- end }}

{{/*
Labels that select the pod; never change them after the first install (a Deployment's
selector is immutable).
*/}}
{{- define "smartlead-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartlead-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The Service's labels: what serviceMonitor.jobLabel and targetLabels read.
*/}}
{{- define "smartlead-exporter.serviceLabels" -}}
{{- $labels := include "smartlead-exporter.labels" . | fromYaml }}
{{- toYaml (merge $labels (deepCopy (.Values.service.labels | default dict))) }}
{{- end }}

{{/*
The `job` label the Prometheus Operator gives the targets. ServiceMonitor: the value of the
Service label named by serviceMonitor.jobLabel, or the Service's name when the Service has no
such label. PodMonitor: the value of the pod label named by podMonitor.jobLabel, or
<namespace>/<PodMonitor name> when the pod has no such label.
*/}}
{{- define "smartlead-exporter.jobName" -}}
{{- if .Values.serviceMonitor.enabled }}
{{- $labelName := .Values.serviceMonitor.jobLabel | default "app.kubernetes.io/name" }}
{{- $labels := include "smartlead-exporter.serviceLabels" . | fromYaml }}
{{- if hasKey $labels $labelName }}
{{- get $labels $labelName }}
{{- else }}
{{- include "smartlead-exporter.fullname" . }}
{{- end }}
{{- else }}
{{- $labelName := .Values.podMonitor.jobLabel | default "app.kubernetes.io/name" }}
{{- $labels := merge (include "smartlead-exporter.labels" . | fromYaml) (deepCopy (.Values.podLabels | default dict)) }}
{{- if hasKey $labels $labelName }}
{{- get $labels $labelName }}
{{- else }}
{{- printf "%s/%s" (.Values.podMonitor.namespace | default (include "smartlead-exporter.namespace" .)) (include "smartlead-exporter.fullname" .) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Prometheus Operator scrape settings shared by the ServiceMonitor and the PodMonitor, as spec
fields: sample, target and label limits. sampleLimit 0 means no limit.
*/}}
{{- define "smartlead-exporter.scrapeLimits" -}}
{{- with .sampleLimit }}
sampleLimit: {{ int . }}
{{- end }}
{{- with .targetLimit }}
targetLimit: {{ int . }}
{{- end }}
{{- with .labelLimit }}
labelLimit: {{ int . }}
{{- end }}
{{- end }}

{{/*
An image reference from an image block: [registry/]repository:tag[@digest]; the
global.imageRegistry wins over the block's registry. Call with (list $ .Values.image).
*/}}
{{- define "smartlead-exporter.imageRef" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- $registry := ($root.Values.global).imageRegistry | default $image.registry }}
{{- $ref := $image.repository }}
{{- if $registry }}
{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref }}
{{- end }}
{{- $ref = printf "%s:%s" $ref ($image.tag | default $root.Chart.AppVersion | toString) }}
{{- with $image.digest }}
{{- $ref = printf "%s@%s" $ref . }}
{{- end }}
{{- $ref }}
{{- end }}

{{- define "smartlead-exporter.image" -}}
{{- include "smartlead-exporter.imageRef" (list . .Values.image) }}
{{- end }}

{{/*
imagePullSecrets and global.imagePullSecrets (names or {name: ...}), as a YAML list.
*/}}
{{- define "smartlead-exporter.imagePullSecrets" -}}
{{- $secrets := list }}
{{- range concat (.Values.imagePullSecrets | default list) ((.Values.global).imagePullSecrets | default list) }}
{{- if kindIs "string" . }}
{{- $secrets = append $secrets (dict "name" .) }}
{{- else }}
{{- $secrets = append $secrets (dict "name" .name) }}
{{- end }}
{{- end }}
{{- if $secrets }}
{{- toYaml (uniq $secrets) }}
{{- end }}
{{- end }}

{{- define "smartlead-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "smartlead-exporter.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/*
Single-account mode: the Secret that holds the API key. Exactly one of smartlead.apiKey
and smartlead.existingSecret must be set, and neither when `accounts` is used; anything
else stops the render with a message that says what to do.
*/}}
{{- define "smartlead-exporter.validateApiKey" -}}
{{- $hasKey := ne (toString (.Values.smartlead.apiKey | default "")) "" }}
{{- $hasSecret := ne (toString (.Values.smartlead.existingSecret | default "")) "" }}
{{- if .Values.accounts }}
{{- if or $hasKey $hasSecret }}
{{- fail "smartlead-exporter: smartlead.apiKey/smartlead.existingSecret are for a single account; with `accounts`, give each account its own existingSecret or apiKey and leave them empty" }}
{{- end }}
{{- else }}
{{- if and $hasKey $hasSecret }}
{{- fail "smartlead-exporter: both smartlead.apiKey and smartlead.existingSecret are set; set exactly one: smartlead.existingSecret=<name of a Secret you created> (key smartlead.existingSecretKey, default \"api-key\"), or smartlead.apiKey=<key> to let the chart create the Secret" }}
{{- end }}
{{- if not (or $hasKey $hasSecret) }}
{{- fail "smartlead-exporter: no SmartLead API key configured; set exactly one: smartlead.existingSecret=<name of a Secret you created> (key smartlead.existingSecretKey, default \"api-key\"), or smartlead.apiKey=<key> to let the chart create the Secret (or list several under `accounts`)" }}
{{- end }}
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

{{/*
Many accounts: checks what the schema cannot (one key source each, unique names, sharding
only with accounts) and fails naming the account.
*/}}
{{- define "smartlead-exporter.validateAccounts" -}}
{{- $seen := dict }}
{{- range $i, $a := .Values.accounts }}
{{- $hasKey := ne (toString ($a.apiKey | default "")) "" }}
{{- $hasSecret := ne (toString ($a.existingSecret | default "")) "" }}
{{- if eq $hasKey $hasSecret }}
{{- fail (printf "smartlead-exporter: accounts[%d] (%s): set exactly one of existingSecret (a Secret you created; key existingSecretKey, default \"api-key\") and apiKey (the chart creates the Secret)" $i $a.name) }}
{{- end }}
{{- if hasKey $seen $a.name }}
{{- fail (printf "smartlead-exporter: accounts[%d]: the name %q is used twice; account names are the `account` label and must be unique" $i $a.name) }}
{{- end }}
{{- $_ := set $seen $a.name true }}
{{- end }}
{{- if and (gt (int .Values.sharding.replicas) 1) (not .Values.accounts) }}
{{- fail "smartlead-exporter: sharding.replicas > 1 splits `accounts` between replicas; list the accounts, or keep sharding.replicas=1 for a single account" }}
{{- end }}
{{- if and (gt (int .Values.sharding.replicas) 1) (not (semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version)) }}
{{- fail (printf "smartlead-exporter: sharding reads each pod's shard from the label apps.kubernetes.io/pod-index, which Kubernetes sets from 1.28 on; this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- end }}

{{/*
The collectors: names in the exporter's order.
*/}}
{{- define "smartlead-exporter.collectorNames" -}}
categories replies campaigns mailboxes
{{- end }}

{{/*
A `collectors` value ({categories: {enabled, interval}, ...}) as the accounts file takes it:
only what is set (`enabled` true or false, a non-empty `interval`), collectors with nothing set
left out. Prints a YAML map, or nothing.
*/}}
{{- define "smartlead-exporter.collectorSettings" -}}
{{- $out := dict }}
{{- range $name := splitList " " (include "smartlead-exporter.collectorNames" .) }}
{{- $c := get ($ | default dict) $name | default dict }}
{{- $one := dict }}
{{- if kindIs "bool" $c.enabled }}
{{- $_ := set $one "enabled" $c.enabled }}
{{- end }}
{{- with $c.interval }}
{{- $_ := set $one "interval" . }}
{{- end }}
{{- if $one }}
{{- $_ := set $out $name $one }}
{{- end }}
{{- end }}
{{- if $out }}
{{- toYaml $out }}
{{- end }}
{{- end }}

{{/*
Per-account settings, from the chart's camelCase names to the accounts file's snake_case
ones. Call with an account (or accountDefaults) map; prints a YAML map, or nothing.
*/}}
{{- define "smartlead-exporter.accountSettings" -}}
{{- $names := dict "pollInterval" "poll_interval" "timeout" "timeout" "baseUrl" "base_url" "globalMaxId" "global_max_id" "maxBodySize" "max_body_size" "maxBackoff" "max_backoff" "staleAfter" "stale_after" "campaignStatuses" "campaign_statuses" "maxCallsPerMinute" "max_calls_per_minute" "maxCallsPerHour" "max_calls_per_hour" }}
{{- $out := dict }}
{{- range $from, $to := $names }}
{{- if and (hasKey $ $from) (not (kindIs "invalid" (get $ $from))) }}
{{- $value := get $ $from }}
{{- if or (kindIs "float64" $value) (kindIs "int" $value) (kindIs "int64" $value) }}
{{- $value = int64 $value }}
{{- end }}
{{- $_ := set $out $to $value }}
{{- end }}
{{- end }}
{{- with include "smartlead-exporter.collectorSettings" $.collectors | fromYaml }}
{{- $_ := set $out "collectors" . }}
{{- end }}
{{- if $out }}
{{- toYaml $out }}
{{- end }}
{{- end }}

{{/*
The settings of `smartlead` that apply to every account: with `accounts`, the accounts file's
defaults beneath `accountDefaults`; alone, the flags of the single account. Same names as
accountSettings. `collectors.categories.interval` is the same setting as `pollInterval` and
wins over it when set.
*/}}
{{- define "smartlead-exporter.smartleadSettings" -}}
{{- $s := .Values.smartlead }}
{{- $values := dict "baseUrl" $s.baseUrl "maxCallsPerMinute" $s.maxCallsPerMinute "maxCallsPerHour" $s.maxCallsPerHour "collectors" (deepCopy ($s.collectors | default dict)) }}
{{- with $s.campaignStatuses }}
{{- $_ := set $values "campaignStatuses" . }}
{{- end }}
{{- if not (($s.collectors | default dict).categories | default dict).interval }}
{{- $_ := set $values "pollInterval" $s.pollInterval }}
{{- end }}
{{- range $k, $v := $values }}
{{- if or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v "")) }}
{{- $_ := unset $values $k }}
{{- end }}
{{- end }}
{{- include "smartlead-exporter.accountSettings" $values }}
{{- end }}

{{/*
The hosts the keys may be sent to (--smartlead.allowed-hosts): the host of smartlead.baseUrl
(or of the exporter's default base URL when it is empty), with `accounts` the host of
accountDefaults.baseUrl and of every account's baseUrl, then smartlead.allowedHosts; each once,
comma-separated. A host is written as the exporter takes it: without scheme or port, an IPv6
address in brackets.
*/}}
{{- define "smartlead-exporter.allowedHosts" -}}
{{- $urls := list (.Values.smartlead.baseUrl | default "https://server.smartlead.ai/api/v1") }}
{{- if .Values.accounts }}
{{- with (.Values.accountDefaults | default dict).baseUrl }}
{{- $urls = append $urls . }}
{{- end }}
{{- range .Values.accounts }}
{{- with .baseUrl }}
{{- $urls = append $urls . }}
{{- end }}
{{- end }}
{{- end }}
{{- $hosts := list }}
{{- range $urls }}
{{- $hosts = append $hosts (regexReplaceAll ":[0-9]*$" (urlParse .).host "" | lower) }}
{{- end }}
{{- concat $hosts (.Values.smartlead.allowedHosts | default list) | uniq | join "," }}
{{- end }}

{{- define "smartlead-exporter.configMountPath" -}}
/etc/smartlead-exporter/config
{{- end }}

{{/*
Accounts' keys: one projected volume mounted at /secrets, each key at /secrets/<name>/api-key.
*/}}
{{- define "smartlead-exporter.accountKeysMountPath" -}}
/secrets
{{- end }}

{{/*
Web config. enabled: a file is configured. tls: the endpoint serves TLS.
clientCertRequired: the endpoint refuses a client without a certificate, which the kubelet
cannot present; the probes then go to the plain-HTTP health listener
(--web.health-listen-address, port `health`), which serves only /-/healthy and /-/ready.
*/}}
{{- define "smartlead-exporter.webConfigEnabled" -}}
{{- if and .Values.webConfig.config .Values.webConfig.existingSecret }}
{{- fail "smartlead-exporter: set webConfig.config (the chart stores it in a Secret) or webConfig.existingSecret, not both" }}
{{- end }}
{{- if or .Values.webConfig.config .Values.webConfig.existingSecret }}true{{ end }}
{{- end }}

{{- define "smartlead-exporter.webTls" -}}
{{- if include "smartlead-exporter.webConfigEnabled" . }}
{{- if or .Values.webConfig.tls (hasKey (.Values.webConfig.config | default dict) "tls_server_config") }}true{{ end }}
{{- end }}
{{- end }}

{{- define "smartlead-exporter.clientCertRequired" -}}
{{- $tls := (.Values.webConfig.config | default dict).tls_server_config | default dict }}
{{- if or .Values.webConfig.clientCertRequired (has (toString ($tls.client_auth_type | default "")) (list "RequireAnyClientCert" "RequireClientCert" "RequireAndVerifyClientCert")) }}true{{ end }}
{{- end }}

{{- define "smartlead-exporter.scheme" -}}
{{- if include "smartlead-exporter.webTls" . }}https{{ else }}http{{ end }}
{{- end }}

{{- define "smartlead-exporter.webConfigMountPath" -}}
/etc/smartlead-exporter/web
{{- end }}

{{- define "smartlead-exporter.webConfigFile" -}}
{{- if .Values.webConfig.existingSecret }}
{{- printf "%s/%s" (include "smartlead-exporter.webConfigMountPath" .) (.Values.webConfig.existingSecretKey | default "web-config.yml") }}
{{- else }}
{{- printf "%s/web-config.yml" (include "smartlead-exporter.webConfigMountPath" .) }}
{{- end }}
{{- end }}

{{/*
CA bundle for calls to SmartLead: smartlead.caBundle or an existing ConfigMap.
*/}}
{{- define "smartlead-exporter.caBundleConfigMap" -}}
{{- if and .Values.smartlead.caBundle .Values.smartlead.existingCaBundleConfigMap }}
{{- fail "smartlead-exporter: set smartlead.caBundle (the chart stores it in a ConfigMap) or smartlead.existingCaBundleConfigMap, not both" }}
{{- end }}
{{- if .Values.smartlead.existingCaBundleConfigMap }}
{{- .Values.smartlead.existingCaBundleConfigMap }}
{{- else if .Values.smartlead.caBundle }}
{{- printf "%s-ca-bundle" (include "smartlead-exporter.fullname" .) }}
{{- end }}
{{- end }}

{{- define "smartlead-exporter.caFile" -}}
/etc/smartlead-exporter/ca/ca.crt
{{- end }}

{{/*
A probe: the values' settings, with an httpGet on `path` unless the values chose another
handler: on port `http` (scheme per webConfig), or on the plain-HTTP port `health` when a
client certificate is required. Call with (list $ .Values.livenessProbe "/-/healthy").
*/}}
{{- define "smartlead-exporter.probe" -}}
{{- $root := index . 0 }}
{{- $probe := deepCopy (index . 1 | default dict) }}
{{- $path := index . 2 }}
{{- if not (or $probe.tcpSocket $probe.exec $probe.grpc) }}
{{- $defaults := dict "path" $path "port" "http" "scheme" (include "smartlead-exporter.scheme" $root | upper) }}
{{- if include "smartlead-exporter.clientCertRequired" $root }}
{{- $defaults = dict "path" $path "port" "health" "scheme" "HTTP" }}
{{- end }}
{{- $_ := set $probe "httpGet" (merge ($probe.httpGet | default dict) $defaults) }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/*
The helm test pod's labels: not the exporter's selector labels, or the Service would send
scrapes to it.
*/}}
{{- define "smartlead-exporter.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "smartlead-exporter.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
