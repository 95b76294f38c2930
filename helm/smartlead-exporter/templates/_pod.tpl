{{/*
The pod template, shared by the Deployment (one replica) and the StatefulSet (sharding).
*/}}
{{- define "smartlead-exporter.podTemplate" -}}
{{- $sharded := gt (int .Values.sharding.replicas) 1 }}
{{- $webConfig := include "smartlead-exporter.webConfigEnabled" . }}
{{- $caConfigMap := include "smartlead-exporter.caBundleConfigMap" . }}
metadata:
  {{- /* No checksum of a Secret or of the accounts file here on purpose: the exporter
  re-reads key files before every poll and reloads the accounts file and the web config
  when they change, so neither must restart the pod. The CA bundle is read at start-up. */}}
  {{- $annotations := deepCopy (.Values.podAnnotations | default dict) }}
  {{- if .Values.smartlead.caBundle }}
  {{- $_ := set $annotations "checksum/ca-bundle" (.Values.smartlead.caBundle | sha256sum) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  labels:
    {{- merge (include "smartlead-exporter.labels" . | fromYaml) (deepCopy (.Values.podLabels | default dict)) | toYaml | nindent 4 }}
spec:
  serviceAccountName: {{ include "smartlead-exporter.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
  enableServiceLinks: false
  {{- with include "smartlead-exporter.imagePullSecrets" . }}
  imagePullSecrets:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with .Values.dnsConfig }}
  dnsConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: smartlead-exporter
      image: {{ include "smartlead-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --web.listen-address=:10072
        {{- if .Values.accounts }}
        - --config.file={{ include "smartlead-exporter.configMountPath" . }}/config.yaml
        - --smartlead.key-dir={{ include "smartlead-exporter.accountKeysMountPath" . }}
        {{- else }}
        - --smartlead.api-key-file={{ include "smartlead-exporter.secretMountPath" . }}/api-key
        {{- $settings := include "smartlead-exporter.smartleadSettings" . | fromYaml }}
        {{- with $settings.base_url }}
        - {{ printf "--smartlead.base-url=%s" . | quote }}
        {{- end }}
        {{- with $settings.poll_interval }}
        - {{ printf "--poll.interval=%s" . | quote }}
        {{- end }}
        {{- with .Values.smartlead.account }}
        - {{ printf "--smartlead.account=%s" . | quote }}
        {{- end }}
        {{- range $name := splitList " " (include "smartlead-exporter.collectorNames" .) }}
        {{- $collector := get ($settings.collectors | default dict) $name | default dict }}
        {{- if hasKey $collector "enabled" }}
        - --{{ ternary "" "no-" $collector.enabled }}collector.{{ $name }}
        {{- end }}
        {{- with $collector.interval }}
        - {{ printf "--collector.%s.interval=%s" $name . | quote }}
        {{- end }}
        {{- end }}
        {{- with $settings.campaign_statuses }}
        - {{ printf "--collector.campaigns.statuses=%s" (join "," .) | quote }}
        {{- end }}
        {{- with $settings.max_calls_per_minute }}
        - --smartlead.max-calls-per-minute={{ int . }}
        {{- end }}
        {{- with $settings.max_calls_per_hour }}
        - --smartlead.max-calls-per-hour={{ int . }}
        {{- end }}
        {{- end }}
        - {{ printf "--smartlead.allowed-hosts=%s" (include "smartlead-exporter.allowedHosts" .) | quote }}
        {{- if $sharded }}
        - --shard=$(SHARD)
        - --total-shards={{ int .Values.sharding.replicas }}
        {{- end }}
        {{- if $webConfig }}
        - --web.config.file={{ include "smartlead-exporter.webConfigFile" . }}
        - --web.health-unauthenticated
        {{- end }}
        {{- if include "smartlead-exporter.clientCertRequired" . }}
        - --web.health-listen-address=:{{ int .Values.webConfig.healthPort }}
        {{- end }}
        {{- if $caConfigMap }}
        - --smartlead.ca-file={{ include "smartlead-exporter.caFile" . }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- with .Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or $sharded .Values.extraEnv }}
      env:
        {{- if $sharded }}
        # The StatefulSet pod's ordinal, set by Kubernetes 1.28+ as a pod label.
        - name: SHARD
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: 10072
          protocol: TCP
        {{- if include "smartlead-exporter.clientCertRequired" . }}
        # /-/healthy and /-/ready only, plain HTTP, for the kubelet's probes.
        - name: health
          containerPort: {{ int .Values.webConfig.healthPort }}
          protocol: TCP
        {{- end }}
      livenessProbe:
        {{- include "smartlead-exporter.probe" (list . .Values.livenessProbe "/-/healthy") | nindent 8 }}
      readinessProbe:
        {{- include "smartlead-exporter.probe" (list . .Values.readinessProbe "/-/ready") | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- if .Values.accounts }}
        - name: config
          mountPath: {{ include "smartlead-exporter.configMountPath" . }}
          readOnly: true
        - name: account-keys
          mountPath: {{ include "smartlead-exporter.accountKeysMountPath" . }}
          readOnly: true
        {{- else }}
        - name: api-key
          mountPath: {{ include "smartlead-exporter.secretMountPath" . }}
          readOnly: true
        {{- end }}
        {{- if $webConfig }}
        - name: web-config
          mountPath: {{ include "smartlead-exporter.webConfigMountPath" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.tlsSecret }}
        - name: web-tls
          mountPath: /etc/smartlead-exporter/tls
          readOnly: true
        {{- end }}
        {{- if $caConfigMap }}
        - name: ca-bundle
          mountPath: {{ include "smartlead-exporter.caFile" . | dir }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if .Values.accounts }}
    - name: config
      configMap:
        name: {{ include "smartlead-exporter.fullname" . }}-config
    - name: account-keys
      projected:
        defaultMode: 0440
        sources:
          {{- range .Values.accounts }}
          - secret:
              {{- if .existingSecret }}
              name: {{ .existingSecret }}
              items:
                - key: {{ .existingSecretKey | default "api-key" | quote }}
                  path: {{ .name }}/api-key
              {{- else }}
              name: {{ include "smartlead-exporter.fullname" $ }}-accounts
              items:
                - key: {{ .name | quote }}
                  path: {{ .name }}/api-key
              {{- end }}
          {{- end }}
    {{- else }}
    - name: api-key
      secret:
        secretName: {{ include "smartlead-exporter.secretName" . }}
        defaultMode: 0440
        items:
          - key: {{ include "smartlead-exporter.secretKey" . | quote }}
            path: api-key
    {{- end }}
    {{- if $webConfig }}
    - name: web-config
      secret:
        secretName: {{ .Values.webConfig.existingSecret | default (printf "%s-web-config" (include "smartlead-exporter.fullname" .)) }}
        defaultMode: 0440
    {{- end }}
    {{- with .Values.webConfig.tlsSecret }}
    - name: web-tls
      secret:
        secretName: {{ . }}
        defaultMode: 0440
    {{- end }}
    {{- if $caConfigMap }}
    - name: ca-bundle
      configMap:
        name: {{ $caConfigMap }}
        items:
          - key: {{ ternary (.Values.smartlead.existingCaBundleKey | default "ca.crt") "ca.crt" (ne .Values.smartlead.existingCaBundleConfigMap "") | quote }}
            path: {{ include "smartlead-exporter.caFile" . | base }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
