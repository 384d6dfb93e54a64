{{/*
Names, labels and the pieces every youma pod shares. A role is one of
issuer, scan, audit: one Deployment each, all from the same image.
*/}}

{{/* The roles, in the order resources are written. */}}
{{- define "youma.roles" -}}
issuer scan audit
{{- end -}}

{{/* The gRPC service a role's readiness probe asks grpc.health.v1.Health about. */}}
{{- define "youma.healthService" -}}
{{- $services := dict "issuer" "youma.v1.IssuerService" "scan" "youma.v1.ScanService" "audit" "youma.v1.AuditService" -}}
{{- index $services . -}}
{{- end -}}

{{- define "youma.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
"<release>-youma", or the release name alone when it already says youma.
Kept to 40 characters so that "-<role>-headless" still fits in 63.
*/}}
{{- define "youma.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "youma.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "youma.labels" -}}
helm.sh/chart: {{ include "youma.chart" . }}
app.kubernetes.io/name: {{ include "youma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: youma
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "role" "scan"). */}}
{{- define "youma.selectorLabels" -}}
app.kubernetes.io/name: {{ include "youma.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/* All labels of one role's resources: (dict "root" $ "role" "scan"). */}}
{{- define "youma.roleLabels" -}}
{{ include "youma.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "youma.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "youma.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "youma.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The MySQL URL, which must be set. */}}
{{- define "youma.mysqlUrl" -}}
{{- required "mysql.url is required: mysql://USER@HOST:PORT/DATABASE (the password comes from mysql.passwordSecret)" .Values.mysql.url -}}
{{- end -}}

{{/* The MySQL port, read from mysql.url (the schema makes the port explicit). */}}
{{- define "youma.mysqlPort" -}}
{{- $url := include "youma.mysqlUrl" . -}}
{{- $port := regexReplaceAll "^mysql://[^@]+@[^:/]+:([0-9]+)/.*$" $url "${1}" -}}
{{- if not (regexMatch "^[0-9]+$" $port) -}}
{{- fail (printf "mysql.url %q has no :PORT after the host" $url) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/*
Checks that need more than one value, which the schema cannot express.
Included by every template that renders pods.
*/}}
{{- define "youma.checks" -}}
{{- $_ := include "youma.mysqlUrl" . -}}
{{- $_ = required "mysql.passwordSecret.name is required: an existing Secret with the MySQL password" .Values.mysql.passwordSecret.name -}}
{{- $_ = required "masterKey.secretName is required: an existing Secret with the master key" .Values.masterKey.secretName -}}
{{- $_ = required "keysets.secretName is required: an existing Secret with the brands' keysets" .Values.keysets.secretName -}}
{{- if .Values.tls.enabled -}}
{{- $_ = required "tls.secretName is required when tls.enabled: an existing kubernetes.io/tls Secret" .Values.tls.secretName -}}
{{- end -}}
{{- if eq (int .Values.ports.grpc) (int .Values.ports.metrics) -}}
{{- fail "ports.grpc and ports.metrics must differ" -}}
{{- end -}}
{{- $hpa := .Values.scan.autoscaling -}}
{{- if and .Values.scan.enabled $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) -}}
{{- fail (printf "scan.autoscaling.minReplicas (%d) is above maxReplicas (%d)" (int $hpa.minReplicas) (int $hpa.maxReplicas)) -}}
{{- end -}}
{{- if not (or .Values.issuer.enabled .Values.scan.enabled .Values.audit.enabled) -}}
{{- fail "every role is disabled: enable at least one of issuer, scan, audit" -}}
{{- end -}}
{{- if and .Values.scan.enabled .Values.web.enabled (or (eq (int .Values.web.port) (int .Values.ports.grpc)) (eq (int .Values.web.port) (int .Values.ports.metrics))) -}}
{{- fail (printf "web.port (%d) must differ from ports.grpc and ports.metrics" (int .Values.web.port)) -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $health := int .Values.ports.health -}}
{{- $taken := list (int .Values.ports.grpc) (int .Values.ports.metrics) -}}
{{- if and .Values.scan.enabled .Values.web.enabled -}}
{{- $taken = append $taken (int .Values.web.port) -}}
{{- end -}}
{{- if has $health $taken -}}
{{- fail (printf "ports.health (%d) must differ from ports.grpc, ports.metrics and web.port: with tls.enabled the probes' plaintext health port listens beside them" $health) -}}
{{- end -}}
{{- end -}}
{{- $ing := .Values.ingress -}}
{{- if $ing.enabled -}}
{{- if not .Values.web.enabled -}}
{{- fail "ingress.enabled needs web.enabled: the Ingress routes to the scan pods' HTTP front" -}}
{{- end -}}
{{- if not .Values.scan.enabled -}}
{{- fail "ingress.enabled needs scan.enabled: only the scan pods serve the HTTP front" -}}
{{- end -}}
{{- if not $ing.hosts -}}
{{- fail "ingress.hosts is required when ingress.enabled: the code hosts printed in QR codes and the console's host" -}}
{{- end -}}
{{- range $i, $t := $ing.tls -}}
{{- range $t.hosts -}}
{{- if not (has . $ing.hosts) -}}
{{- fail (printf "ingress.tls[%d] covers %s, which is not in ingress.hosts" $i .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.httpFrom) -}}
{{- fail "ingress.enabled with networkPolicy.httpFrom empty: the NetworkPolicy would keep the ingress controller from the scan pods; name its pods in networkPolicy.httpFrom" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the image keeps the HTTP front's assets (the Dockerfile copies them there). */}}
{{- define "youma.webAssets" -}}
/usr/share/youma/web
{{- end -}}

{{/* Whether a role's pods serve the HTTP front: (dict "root" $ "role" "scan"), "true" or "". */}}
{{- define "youma.servesWeb" -}}
{{- if and (eq .role "scan") .root.Values.web.enabled -}}true{{- end -}}
{{- end -}}

{{/* Where the Secrets and scratch space are mounted in every container. */}}
{{- define "youma.paths" -}}
{{- dict "data" "/var/lib/youma" "tmp" "/tmp" "mysqlDir" "/run/secrets/youma/mysql" "mysqlCaDir" "/run/secrets/youma/mysql-ca" "mysqlClientDir" "/run/secrets/youma/mysql-client" "masterKeyDir" "/run/secrets/youma/master-key" "keysetDir" "/run/secrets/youma/keysets" "tlsDir" "/run/secrets/youma/tls" | toJson -}}
{{- end -}}

{{/* The pod-level security context of every youma pod. */}}
{{- define "youma.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.podSecurity.runAsUser }}
runAsGroup: {{ int .Values.podSecurity.runAsGroup }}
fsGroup: {{ int .Values.podSecurity.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container-level security context of every youma container. */}}
{{- define "youma.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.podSecurity.runAsUser }}
runAsGroup: {{ int .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The MySQL password volume and its mount (for the servers and the migration Job). */}}
{{- define "youma.mysqlPasswordVolume" -}}
- name: mysql-password
  secret:
    secretName: {{ .Values.mysql.passwordSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.mysql.passwordSecret.key }}
        path: password
{{- end -}}

{{/* TLS to MySQL: the CA (and client certificate) volumes, their mounts and the flags naming them. */}}
{{- define "youma.mysqlTlsVolumes" -}}
{{- with .Values.mysql.tls.caSecret }}
- name: mysql-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $.Values.mysql.tls.caKey }}
        path: ca.pem
{{- end }}
{{- with .Values.mysql.tls.clientSecret }}
- name: mysql-client
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end -}}

{{- define "youma.mysqlTlsMounts" -}}
{{- $p := include "youma.paths" . | fromJson -}}
{{- if .Values.mysql.tls.caSecret }}
- name: mysql-ca
  mountPath: {{ $p.mysqlCaDir }}
  readOnly: true
{{- end }}
{{- if .Values.mysql.tls.clientSecret }}
- name: mysql-client
  mountPath: {{ $p.mysqlClientDir }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "youma.mysqlTlsArgs" -}}
{{- $p := include "youma.paths" . | fromJson -}}
{{- if .Values.mysql.tls.caSecret }}
- --mysql-ca={{ $p.mysqlCaDir }}/ca.pem
{{- end }}
{{- if .Values.mysql.tls.clientSecret }}
- --mysql-cert={{ $p.mysqlClientDir }}/tls.crt
- --mysql-key={{ $p.mysqlClientDir }}/tls.key
{{- end }}
{{- end -}}

{{- define "youma.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.scratch.tmpSizeLimit }}
{{- end -}}

{{/* Volumes of a server pod. */}}
{{- define "youma.serverVolumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.scratch.dataSizeLimit }}
{{ include "youma.tmpVolume" . }}
{{ include "youma.mysqlPasswordVolume" . }}
{{- include "youma.mysqlTlsVolumes" . }}
- name: master-key
  secret:
    secretName: {{ .Values.masterKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.masterKey.key }}
        path: master.key
- name: keysets
  secret:
    secretName: {{ .Values.keysets.secretName }}
    defaultMode: 0440
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end -}}

{{/* Mounts of a server container. Secrets are mounted as folders, never with subPath, so that the kubelet keeps them current. */}}
{{- define "youma.serverVolumeMounts" -}}
{{- $p := include "youma.paths" . | fromJson -}}
- name: data
  mountPath: {{ $p.data }}
- name: tmp
  mountPath: {{ $p.tmp }}
- name: mysql-password
  mountPath: {{ $p.mysqlDir }}
  readOnly: true
{{- include "youma.mysqlTlsMounts" . }}
- name: master-key
  mountPath: {{ $p.masterKeyDir }}
  readOnly: true
- name: keysets
  mountPath: {{ $p.keysetDir }}
  readOnly: true
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ $p.tlsDir }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* `youma serve` arguments of one role: (dict "root" $ "role" "scan"). */}}
{{- define "youma.serveArgs" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .role -}}
{{- $p := include "youma.paths" $root | fromJson -}}
- serve
- --services={{ .role }}
- --listen=0.0.0.0:{{ int $root.Values.ports.grpc }}
- --metrics-listen=0.0.0.0:{{ int $root.Values.ports.metrics }}
- --data-dir={{ $p.data }}
- --no-migrate
- --mysql={{ include "youma.mysqlUrl" $root }}
- --mysql-password-file={{ $p.mysqlDir }}/password
{{- include "youma.mysqlTlsArgs" $root }}
- --master-key-file={{ $p.masterKeyDir }}/master.key
- --keyset-dir={{ $p.keysetDir }}
{{- if $root.Values.tls.enabled }}
- --tls-cert={{ $p.tlsDir }}/tls.crt
- --tls-key={{ $p.tlsDir }}/tls.key
# Plaintext gRPC health checking alone, for the kubelet's gRPC probes.
- --health-listen=0.0.0.0:{{ int $root.Values.ports.health }}
{{- end }}
{{- if eq .role "scan" }}
{{- $web := $root.Values.web }}
{{- if $web.enabled }}
- --http-listen=0.0.0.0:{{ int $web.port }}
- --web-assets={{ include "youma.webAssets" $root }}
- {{ printf "--miniprogram-url=%s" $web.miniprogramUrl | quote }}
- --region-header={{ $web.regionHeader }}
{{- if $web.trustForwardedFor }}
- --trust-forwarded-for
{{- end }}
{{- if $web.secureCookies }}
- --secure-cookies
{{- end }}
{{- else }}
# The HTTP front off (the binary would start it on 127.0.0.1:8080 otherwise).
- "--http-listen="
{{- end }}
{{- end }}
- --grace-seconds={{ int $v.graceSeconds }}
{{- range $v.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The port the gRPC probes ask: the gRPC port, or with TLS the plaintext health port (--health-listen). */}}
{{- define "youma.probePort" -}}
{{- if .Values.tls.enabled -}}
{{- int .Values.ports.health -}}
{{- else -}}
{{- int .Values.ports.grpc -}}
{{- end -}}
{{- end -}}

{{/*
Probes of one role: native gRPC probes against grpc.health.v1.Health; the
readiness probe asks for the role's own service. The kubelet's gRPC probe
speaks plaintext only, so with TLS they ask the health port instead, where
the server answers health checks alone, in plaintext, with the same
statuses (--health-listen). The scan pods with the HTTP front are ready when
GET /healthz answers: the front opens after the gRPC services, which the
startup probe has already found serving, and closes first on SIGTERM.
*/}}
{{- define "youma.probe" -}}
{{- $root := .root -}}
{{- $cfg := index $root.Values.probes .kind -}}
{{- if and (eq .kind "readiness") (include "youma.servesWeb" .) -}}
httpGet:
  path: /healthz
  port: http
  scheme: HTTP
{{- else -}}
grpc:
  port: {{ include "youma.probePort" $root }}
  {{- if eq .kind "readiness" }}
  service: {{ include "youma.healthService" .role }}
  {{- end }}
{{- end }}
periodSeconds: {{ int $cfg.periodSeconds }}
timeoutSeconds: {{ int $cfg.timeoutSeconds }}
failureThreshold: {{ int $cfg.failureThreshold }}
{{- if eq .kind "readiness" }}
successThreshold: 1
{{- end }}
{{- end -}}

{{/* A count of pods or a percentage, as a PodDisruptionBudget wants it. */}}
{{- define "youma.count" -}}
{{- if kindIs "string" . -}}
{{- . | quote -}}
{{- else -}}
{{- int . -}}
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds of one role: preStop + grace + slack. */}}
{{- define "youma.terminationGrace" -}}
{{- $v := index .root.Values .role -}}
{{- add (int .root.Values.shutdown.preStopSleepSeconds) (int $v.graceSeconds) (int .root.Values.shutdown.slackSeconds) -}}
{{- end -}}

{{/*
Egress rules of every youma pod, the migration Job's included: DNS, MySQL,
and networkPolicy.extraEgress. (dict "root" $ "mysqlPort" "3306")
*/}}
{{- define "youma.egressRules" -}}
{{- $np := .root.Values.networkPolicy -}}
{{- if $np.dns.enabled -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $np.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
- ports:
    - port: {{ .mysqlPort }}
      protocol: TCP
  {{- with $np.mysqlTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}
