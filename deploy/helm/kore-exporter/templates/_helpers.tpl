{{/* Chart name. */}}
{{- define "kore-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or fullnameOverride. */}}
{{- define "kore-exporter.fullname" -}}
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

{{- define "kore-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kore-exporter.labels" -}}
helm.sh/chart: {{ include "kore-exporter.chart" . }}
{{ include "kore-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kore-exporter
{{- end }}

{{/* Labels that select the exporter's pods. */}}
{{- define "kore-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kore-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kore-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kore-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kore-exporter.configMapName" -}}
{{- default (include "kore-exporter.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/* The config file as rendered into the ConfigMap: `config` as YAML, or
as written when it is a string (helm install --set-file config=kore.yml:
the file checked with kore_exporter --config.check, comments and line
numbers kept). Refuses literal secrets. */}}
{{- define "kore-exporter.config" -}}
{{- $cfg := .Values.config }}
{{- if kindIs "string" .Values.config }}
{{- $cfg = fromYaml .Values.config }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "config: the string is not a YAML mapping (%s); check the file with kore_exporter --config.check --config.check.skip-secrets --config.file=FILE" $cfg.Error) }}
{{- end }}
{{- end }}
{{- range $i, $bot := $cfg.bots }}
{{- if and (kindIs "map" $bot) (hasKey $bot "client_secret") (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" (toString $bot.client_secret))) }}
{{- fail (printf "config.bots[%d].client_secret: a literal secret would be stored in a ConfigMap; put it in existingSecret and use client_secret_file (under secretMountPath) or client_secret: ${NAME} with secretEnv" $i) }}
{{- end }}
{{- end }}
{{- if kindIs "string" .Values.config }}
{{- .Values.config | trimSuffix "\n" }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* Values the chart refuses with an explanation (the schema lets them
through so that the message can name what to use instead). */}}
{{- define "kore-exporter.refuseValues" -}}
{{- if hasKey .Values "replicas" }}
{{- fail "replicas is not a value of this chart: every replica would poll every bot, and Kore.ai's request budget is per bot, so replicas would split it; use shards: N to split the bots over N pods (each bot polled by one pod)" }}
{{- end }}
{{- end }}

{{/* The pod template of the Deployment and the StatefulSet. */}}
{{- define "kore-exporter.podTemplate" -}}
{{- include "kore-exporter.refuseValues" . }}
{{- $tcp := or (eq .Values.probes.type "tcpSocket") (ne .Values.webConfig.existingSecret "") -}}
metadata:
  labels:
    {{- include "kore-exporter.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- if not .Values.existingConfigMap }}
    checksum/config: {{ include "kore-exporter.config" . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "kore-exporter.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: kore-exporter
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file=/etc/kore_exporter/config/config.yml
        - --web.listen-address=:{{ .Values.service.port }}
        - --log.level={{ .Values.logLevel }}
        - --log.format={{ .Values.logFormat }}
        {{- if gt (int .Values.shards) 1 }}
        - --shard.count={{ .Values.shards }}
        - --shard.index=$(SHARD_INDEX)
        {{- end }}
        {{- if .Values.demo }}
        - --demo
        {{- end }}
        {{- if .Values.webConfig.existingSecret }}
        - --web.config.file=/etc/kore_exporter/web/web-config.yml
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or (gt (int .Values.shards) 1) .Values.secretEnv }}
      env:
        {{- if gt (int .Values.shards) 1 }}
        - name: SHARD_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        {{- range .Values.secretEnv }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef:
              name: {{ required "secretEnv needs existingSecret" $.Values.existingSecret }}
              key: {{ .key }}
        {{- end }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      livenessProbe:
        {{- if $tcp }}
        tcpSocket:
          port: http-metrics
        {{- else }}
        httpGet:
          path: /-/healthy
          port: http-metrics
        {{- end }}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        {{- if $tcp }}
        tcpSocket:
          port: http-metrics
        {{- else }}
        httpGet:
          path: /-/ready
          port: http-metrics
        {{- end }}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/kore_exporter/config
          readOnly: true
        {{- if .Values.existingSecret }}
        - name: secrets
          mountPath: {{ .Values.secretMountPath }}
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.existingSecret }}
        - name: web-config
          mountPath: /etc/kore_exporter/web
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "kore-exporter.configMapName" . }}
    {{- if .Values.existingSecret }}
    - name: secrets
      secret:
        secretName: {{ .Values.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.webConfig.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ .Values.webConfig.existingSecret }}
        defaultMode: 0440
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
{{- end }}
