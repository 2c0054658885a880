{{/* The resources' base name: the release's when it says agenthost, else <release>-agenthost. */}}
{{- define "agenthost.fullname" -}}
{{- if contains "agenthost" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-agenthost" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agenthost.secretName" -}}
{{- if .Values.secret.create -}}
{{- include "agenthost.fullname" . -}}
{{- else -}}
{{- required "secret.existingSecret: name the Secret to use when secret.create is false" .Values.secret.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component (server or worker): pass (list . "server"). */}}
{{- define "agenthost.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: agenthost
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{- if gt (len .) 1 }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}
{{- end -}}

{{- define "agenthost.labels" -}}
{{ include "agenthost.selectorLabels" . }}
app.kubernetes.io/part-of: agenthost
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{- define "agenthost.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* What both deployments' pods share: non-root, the config mounted, writable /data, /tmp. */}}
{{- define "agenthost.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "agenthost.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{- define "agenthost.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "agenthost.fullname" . }}
  - secretRef:
      name: {{ include "agenthost.secretName" . }}
{{- end -}}

{{- define "agenthost.mounts" -}}
volumeMounts:
  - name: config
    mountPath: /etc/agenthost
    readOnly: true
  - name: data
    mountPath: /data
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{- define "agenthost.volumes" -}}
volumes:
  - name: config
    configMap:
      name: {{ include "agenthost.fullname" . }}
      items:
        - key: agenthost.yaml
          path: agenthost.yaml
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/* A HorizontalPodAutoscaler on CPU: pass (list . "server" .Values.server.autoscaling). */}}
{{- define "agenthost.hpa" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $scaling := index . 2 -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "agenthost.fullname" $root }}-{{ $component }}
  labels:
    {{- include "agenthost.labels" (list $root $component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "agenthost.fullname" $root }}-{{ $component }}
  minReplicas: {{ $scaling.minReplicas }}
  maxReplicas: {{ $scaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $scaling.targetCPUUtilization }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $scaling.scaleDownStabilizationSeconds }}
{{- end -}}
