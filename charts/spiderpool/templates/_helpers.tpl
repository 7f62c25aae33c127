{{/*
Names, labels, images and the command lines of the three components.

Every flag and environment variable the chart passes to a binary is written in
this file only (the `spiderpool.*.args` / `*.env` helpers), so that a renamed
flag is a one-line change. docs/install.md lists them.
*/}}

{{- define "spiderpool.labels" -}}
app.kubernetes.io/part-of: spiderpool
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spiderpool.agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.spiderpoolAgent.name }}
app.kubernetes.io/component: spiderpool-agent
{{- end }}

{{- define "spiderpool.controller.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.spiderpoolController.name }}
app.kubernetes.io/component: spiderpool-controller
{{- end }}

{{/* An image reference from {registry, repository, tag, digest}. */}}
{{- define "spiderpool.image" -}}
{{- $img := index . 0 -}}
{{- $root := index . 1 -}}
{{- $registry := $root.Values.global.imageRegistryOverride | default $img.registry -}}
{{- $tag := $root.Values.global.imageTagOverride | default $img.tag | default $root.Chart.AppVersion -}}
{{- $repo := $img.repository -}}
{{- if $registry }}{{ $repo = printf "%s/%s" $registry $repo }}{{ end -}}
{{- if $img.digest -}}
{{ printf "%s@%s" $repo $img.digest }}
{{- else -}}
{{ printf "%s:%s" $repo $tag }}
{{- end -}}
{{- end }}

{{/* Directory of the agent socket on the host (mounted at the same path). */}}
{{- define "spiderpool.socketDir" -}}
{{ dir .Values.global.ipamUNIXSocketHostPath }}
{{- end }}

{{/* `namespace/name` of the Multus clusterNetwork NAD, or "". */}}
{{- define "spiderpool.clusterNetwork" -}}
{{- $n := .Values.multus.multusCNI.defaultCniCRName -}}
{{- if and $n (not (contains "/" $n)) -}}
{{ printf "%s/%s" .Release.Namespace $n }}
{{- else -}}
{{ $n }}
{{- end -}}
{{- end }}

{{/* Names shared by the controller, its RBAC and the webhook configurations. */}}
{{- define "spiderpool.webhookConfigName" -}}
{{ .Values.spiderpoolController.name }}
{{- end }}

{{/* The six kinds: plural resource, and whether they get a mutating webhook. */}}
{{- define "spiderpool.webhookKinds" -}}
{{- $kinds := list "spiderippools" "spidersubnets" "spiderreservedips" "spidercoordinators" -}}
{{- if .Values.multus.enableMultusConfig }}{{ $kinds = append $kinds "spidermultusconfigs" }}{{ end -}}
{{ join " " $kinds }}
{{- end }}

{{/* Webhook path of a kind (controller-runtime's form, as Spiderpool serves them). */}}
{{- define "spiderpool.webhookPath" -}}
{{- $op := index . 0 -}}
{{- $plural := index . 1 -}}
{{- /* The controller serves one path per operation and tells the kinds apart
by the AdmissionReview (spiderpool_k8s::webhook::config MUTATE_PATH and
VALIDATE_PATH); $plural only names the webhook entry. */ -}}
{{ printf "/webhook/%s" $op }}
{{- end }}

{{/* Mount point of the webhook certificates for tls.method=provided. */}}
{{- define "spiderpool.tlsDir" -}}
/etc/spiderpool/tls
{{- end }}

{{/* Mount point of the ConfigMap of Spiderpool's keys (Spiderpool's path). */}}
{{- define "spiderpool.confDir" -}}
/tmp/spiderpool/config-map
{{- end }}

{{/* Where the init Job reads the objects it creates. */}}
{{- define "spiderpool.initObjectsFile" -}}
/etc/spiderpool/init/objects.yaml
{{- end }}

{{/*
spiderpool-agent: flags (spiderpool-bin/src/bin/spiderpool-agent.rs, docs/agent.md).
*/}}
{{- define "spiderpool.agent.args" -}}
- --store=kubernetes
- --node-name=$(NODE_NAME)
- --socket={{ .Values.global.ipamUNIXSocketHostPath }}
- --data-dir={{ .Values.global.agentDataHostPath }}
- --release-journal={{ .Values.global.agentDataHostPath }}/release-journal.jsonl
- --agent-namespace={{ .Release.Namespace }}
- --enable-ipv4={{ .Values.ipam.enableIPv4 }}
- --enable-ipv6={{ .Values.ipam.enableIPv6 }}
- --enable-ip-conflict-detection={{ .Values.ipam.enableIPConflictDetection }}
- --enable-gateway-detection={{ .Values.ipam.enableGatewayDetection }}
- --enable-release-conflict-ips={{ .Values.ipam.enableReleaseConflictIPs }}
- --enable-spider-subnet={{ .Values.ipam.spiderSubnet.enable }}
- --enable-auto-pool-for-application={{ .Values.ipam.spiderSubnet.autoPool.enable }}
- --auto-pool-default-redundant-ip-number={{ .Values.ipam.spiderSubnet.autoPool.defaultRedundantIPNumber }}
- --group-commit={{ .Values.spiderpoolAgent.groupCommit }}
- --health-port={{ .Values.spiderpoolAgent.healthChecking.port }}
- --health-address=127.0.0.1
{{- if .Values.spiderpoolAgent.prometheus.enabled }}
- --metrics-port={{ .Values.spiderpoolAgent.prometheus.port }}
- --metrics-address={{ .Values.spiderpoolAgent.prometheus.address }}
{{- end }}
{{- with (include "spiderpool.clusterNetwork" .) }}
- --multus-cluster-network={{ . }}
{{- end }}
- --log-level={{ .Values.spiderpoolAgent.logLevel }}
{{- with .Values.spiderpoolAgent.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "spiderpool.agent.env" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- with .Values.spiderpoolAgent.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
spiderpool-controller: flags (docs/controller.md "Flags"; `chart-check.sh flags`
checks each against the binary).
*/}}
{{- define "spiderpool.controller.args" -}}
{{- $c := .Values.spiderpoolController -}}
- --namespace={{ .Release.Namespace }}
- --service-name={{ $c.name }}
- --webhook-port={{ $c.webhookPort }}
- --health-port={{ $c.httpPort }}
{{- if $c.prometheus.enabled }}
- --metrics-port={{ $c.prometheus.port }}
{{- end }}
- --lease-name={{ $c.leaderElection.leaseName }}
- --leader-election-lease-duration={{ $c.leaderElection.leaseDuration }}
- --leader-election-renew-deadline={{ $c.leaderElection.renewDeadline }}
- --leader-election-retry-period={{ $c.leaderElection.retryPeriod }}
{{- if eq $c.tls.method "provided" }}
- --tls-cert-file={{ include "spiderpool.tlsDir" . }}/tls.crt
- --tls-key-file={{ include "spiderpool.tlsDir" . }}/tls.key
{{- end }}
{{- with $c.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Controller settings without a flag of their own: Spiderpool's environment names. */}}
{{- define "spiderpool.controller.env" -}}
{{- $gc := .Values.ipam.gc -}}
- name: SPIDERPOOL_LOG_LEVEL
  value: {{ .Values.spiderpoolController.logLevel | quote }}
- name: SPIDERPOOL_ENABLE_IPV4
  value: {{ .Values.ipam.enableIPv4 | quote }}
- name: SPIDERPOOL_ENABLE_IPV6
  value: {{ .Values.ipam.enableIPv6 | quote }}
- name: SPIDERPOOL_ENABLE_SPIDER_SUBNET
  value: {{ .Values.ipam.spiderSubnet.enable | quote }}
- name: SPIDERPOOL_ENABLE_AUTO_POOL_FOR_APPLICATION
  value: {{ .Values.ipam.spiderSubnet.autoPool.enable | quote }}
- name: SPIDERPOOL_AUTO_POOL_DEFAULT_REDUNDANT_IP_NUMBER
  value: {{ .Values.ipam.spiderSubnet.autoPool.defaultRedundantIPNumber | quote }}
- name: SPIDERPOOL_ENABLE_DELETE_WEBHOOK
  value: {{ .Values.spiderpoolController.enableValidatingResourcesDeletedWebhook | quote }}
- name: SPIDERPOOL_GC_IP_ENABLED
  value: {{ $gc.enabled | quote }}
- name: SPIDERPOOL_GC_DEFAULT_INTERVAL_DURATION
  value: {{ $gc.gcAll.intervalInSecond | quote }}
- name: SPIDERPOOL_GC_STATELESS_TERMINATING_POD_ON_READY_NODE_ENABLED
  value: {{ $gc.statelessPod.zombieOnReadyNode | quote }}
- name: SPIDERPOOL_GC_STATELESS_TERMINATING_POD_ON_NOT_READY_NODE_ENABLED
  value: {{ $gc.statelessPod.zombieOnNotReadyNode | quote }}
- name: SPIDERPOOL_GC_ENABLE_STATELESS_RUNNING_POD_ON_EMPTY_POD_STATUS_IPS
  value: {{ $gc.statelessPod.enableGcRunningPodOnEmptyPodStatusIPs | quote }}
- name: SPIDERPOOL_GC_ADDITIONAL_GRACE_DELAY
  value: {{ $gc.gcDeletingTimeOutPodDelay | quote }}
- name: SPIDERPOOL_COORDINATOR_ENABLED
  value: {{ .Values.coordinator.enabled | quote }}
- name: SPIDERPOOL_COORDINATOR_DEFAULT_NAME
  value: {{ .Values.coordinator.name | quote }}
- name: SPIDERPOOL_MULTUS_CONFIG_ENABLED
  value: {{ .Values.multus.enableMultusConfig | quote }}
- name: SPIDERPOOL_CNI_CONFIG_DIR
  value: {{ .Values.global.cniConfHostPath | quote }}
- name: SPIDERPOOL_CILIUM_CONFIGMAP_NAMESPACE_NAME
  value: {{ .Values.global.ciliumConfigMap | quote }}
- name: SPIDERPOOL_TLS_SECRET_NAME
  value: {{ .Values.spiderpoolController.tls.secretName | quote }}
- name: SPIDERPOOL_WEBHOOK_CONFIGURATION
  value: {{ include "spiderpool.webhookConfigName" . | quote }}
{{- with .Values.spiderpoolController.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The init Job's command line (after the controller image's entrypoint). */}}
{{- define "spiderpool.init.command" -}}
- /usr/bin/spiderpool-controller
- init
- --namespace={{ .Release.Namespace }}
- --service-name={{ .Values.spiderpoolController.name }}
- --objects={{ include "spiderpool.initObjectsFile" . }}
{{- end }}

{{/* Values this chart cannot honour: a clear error instead of a silent no-op. */}}
{{- define "spiderpool.checkValues" -}}
{{- if .Values.multus.multusCNI.install -}}
{{- fail "multus.multusCNI.install: this chart does not ship Multus; install Multus yourself (docs/install.md) and keep this false" -}}
{{- end -}}
{{- range $k, $v := .Values.plugins -}}
{{- if $v -}}
{{- fail (printf "plugins.%s: this chart does not ship that CNI plugin; install it yourself (docs/install.md) and keep this false" $k) -}}
{{- end -}}
{{- end -}}
{{- if ne (len (splitList "/" .Values.global.ciliumConfigMap)) 2 -}}
{{- fail (printf "global.ciliumConfigMap: %q must be namespace/name" .Values.global.ciliumConfigMap) -}}
{{- end -}}
{{- if not (or .Values.ipam.enableIPv4 .Values.ipam.enableIPv6) -}}
{{- fail "ipam.enableIPv4, ipam.enableIPv6: at least one family must be enabled" -}}
{{- end -}}
{{- if not (has .Values.spiderpoolController.tls.method (list "auto" "provided")) -}}
{{- fail (printf "spiderpoolController.tls.method: %q is not supported (auto or provided)" .Values.spiderpoolController.tls.method) -}}
{{- end -}}
{{- if eq .Values.spiderpoolController.tls.method "provided" -}}
{{- $p := .Values.spiderpoolController.tls.provided -}}
{{- if not (and $p.tlsCert $p.tlsKey $p.tlsCa) -}}
{{- fail "spiderpoolController.tls.provided: tlsCert, tlsKey and tlsCa are required with tls.method=provided" -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.spiderpoolController.webhook.failurePolicy (list "Fail" "Ignore")) -}}
{{- fail (printf "spiderpoolController.webhook.failurePolicy: %q must be Fail or Ignore" .Values.spiderpoolController.webhook.failurePolicy) -}}
{{- end -}}
{{- if and .Values.clusterDefaultPool.installIPv4IPPool (not .Values.clusterDefaultPool.ipv4Subnet) -}}
{{- fail "clusterDefaultPool.ipv4Subnet: required with clusterDefaultPool.installIPv4IPPool" -}}
{{- end -}}
{{- if and .Values.clusterDefaultPool.installIPv6IPPool (not .Values.clusterDefaultPool.ipv6Subnet) -}}
{{- fail "clusterDefaultPool.ipv6Subnet: required with clusterDefaultPool.installIPv6IPPool" -}}
{{- end -}}
{{- end }}
