{{/* Names and labels of the injector's own objects. */}}
{{- define "agent-sidecar.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agent-sidecar.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agent-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end -}}

{{- define "agent-sidecar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "agent-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "agent-sidecar.tlsSecret" -}}
{{- printf "%s-tls" (include "agent-sidecar.fullname" .) -}}
{{- end -}}

{{/*
The injector's settings file: the sidecar values with the image resolved. `.` is the chart's
values (the injector's ConfigMap passes .Values).
*/}}
{{- define "agent-sidecar.sidecarImage" -}}
{{- .sidecar.image | default (printf "%s:%s" .image.repository (toString .image.tag)) -}}
{{- end -}}

{{- define "agent-sidecar.settings" -}}
{{- $settings := deepCopy .sidecar -}}
{{- $_ := set $settings "image" (include "agent-sidecar.sidecarImage" .) -}}
{{- toYaml $settings -}}
{{- end -}}

{{/*
Adding the sidecar without the webhook. Each template takes a dict:
  values      this chart's values: (index .Values "agent-sidecar") from a parent chart (required)
  config      the ConfigMap holding sidecar.yaml (default: sidecar.config)
  secrets     a Secret whose keys become the sidecar's environment
  apiKey      the key of that Secret holding the agent's API key
  identity, image, cpu, memory   as the annotations of the same names
  egressLock  true adds the egress lock init container
and renders what the webhook would add for the same annotations:
  agent-sidecar.initContainers  list items for initContainers (egress lock, native sidecar)
  agent-sidecar.containers      list items for containers (the sidecar when sidecar.native is false)
  agent-sidecar.volumes         list items for volumes
  agent-sidecar.env             list items for the env of each agent container
*/}}
{{- define "agent-sidecar.initContainers" -}}
{{- if .egressLock }}
{{ include "agent-sidecar.egressLockContainer" . }}
{{- end }}
{{- if .values.sidecar.native }}
{{ include "agent-sidecar.container" . }}
{{- end }}
{{- end -}}

{{- define "agent-sidecar.containers" -}}
{{- if not .values.sidecar.native }}
{{ include "agent-sidecar.container" . }}
{{- end }}
{{- end -}}

{{- define "agent-sidecar.volumes" -}}
- name: agent-sidecar-config
  configMap:
    name: {{ .config | default .values.sidecar.config | required "agent-sidecar: pass config, the ConfigMap holding sidecar.yaml" }}
- name: agent-sidecar-tmp
  emptyDir: {}
{{- end -}}

{{- define "agent-sidecar.env" -}}
{{- $s := .values.sidecar -}}
{{- $user := .identity | default $s.identity -}}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s@127.0.0.1:%v/%s" $user $s.ports.pg $user | quote }}
- name: PGHOST
  value: "127.0.0.1"
- name: PGPORT
  value: {{ $s.ports.pg | quote }}
- name: PGUSER
  value: {{ $user | quote }}
- name: FLIGHT_SQL_URI
  value: {{ printf "grpc://127.0.0.1:%v" $s.ports.flight | quote }}
- name: OPENAI_BASE_URL
  value: {{ printf "http://127.0.0.1:%v/v1" $s.ports.http | quote }}
- name: SIDECAR_URL
  value: {{ printf "http://127.0.0.1:%v" $s.ports.http | quote }}
{{- if and .secrets .apiKey }}
{{- range list "PGPASSWORD" "SIDECAR_API_KEY" "OPENAI_API_KEY" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secrets }}
      key: {{ $.apiKey }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "agent-sidecar.image" -}}
{{- .image | default (include "agent-sidecar.sidecarImage" .values) -}}
{{- end -}}

{{- define "agent-sidecar.container" -}}
{{- $s := .values.sidecar -}}
{{- $http := printf "http://127.0.0.1:%v" $s.ports.http -}}
- name: agent-sidecar
  image: {{ include "agent-sidecar.image" . }}
  imagePullPolicy: {{ $s.imagePullPolicy }}
  command:
    - sidecar
    - run
    - -c
    - /etc/sidecar/sidecar.yaml
    - --host
    - 127.0.0.1
    - --http-port
    - {{ $s.ports.http | quote }}
    - --flight-port
    - {{ $s.ports.flight | quote }}
    - --pg-port
    - {{ $s.ports.pg | quote }}
  {{- if $s.native }}
  restartPolicy: Always
  {{- end }}
  workingDir: /tmp
  env:
    - name: SIDECAR_DATA_DIR
      value: /tmp/sidecar
  {{- with .secrets }}
  envFrom:
    - secretRef:
        name: {{ . }}
  {{- end }}
  startupProbe:
    exec:
      command: [python, -m, sidecar.inject.probe, {{ printf "%s/v1/ready" $http | quote }}]
    periodSeconds: 2
    timeoutSeconds: 5
    failureThreshold: {{ max 1 (div (int $s.startupSeconds) 2) }}
  livenessProbe:
    exec:
      command: [python, -m, sidecar.inject.probe, {{ printf "%s/health" $http | quote }}]
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 3
  {{- if not $s.native }}
  lifecycle:
    postStart:
      exec:
        command:
          - python
          - -m
          - sidecar.inject.probe
          - --wait
          - {{ $s.startupSeconds | quote }}
          - {{ printf "%s/v1/ready" $http | quote }}
  {{- end }}
  resources:
    {{- include "agent-sidecar.resources" . | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ $s.uid }}
    runAsGroup: {{ $s.uid }}
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities:
      drop: [ALL]
    seccompProfile:
      type: RuntimeDefault
  volumeMounts:
    - name: agent-sidecar-config
      mountPath: /etc/sidecar
      readOnly: true
    - name: agent-sidecar-tmp
      mountPath: /tmp
{{- end -}}

{{- define "agent-sidecar.resources" -}}
{{- $requests := deepCopy (.values.sidecar.resources.requests | default dict) -}}
{{- $limits := deepCopy (.values.sidecar.resources.limits | default dict) -}}
{{- with .cpu }}{{ $_ := set $requests "cpu" . }}{{ end -}}
{{- with .memory }}{{ $_ := set $requests "memory" . }}{{ $_ := set $limits "memory" . }}{{ end -}}
{{- $resources := dict -}}
{{- if $requests }}{{ $_ := set $resources "requests" $requests }}{{ end -}}
{{- if $limits }}{{ $_ := set $resources "limits" $limits }}{{ end -}}
{{- toYaml $resources -}}
{{- end -}}

{{- define "agent-sidecar.egressLockContainer" -}}
- name: agent-sidecar-egress-lock
  image: {{ include "agent-sidecar.image" . }}
  imagePullPolicy: {{ .values.sidecar.imagePullPolicy }}
  command: [python, -m, sidecar.inject.egress, --sidecar-uid, {{ .values.sidecar.uid | quote }}]
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      memory: 128Mi
  securityContext:
    runAsNonRoot: false
    runAsUser: 0
    runAsGroup: 0
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities:
      drop: [ALL]
      add: [NET_ADMIN]
    seccompProfile:
      type: RuntimeDefault
{{- end -}}
