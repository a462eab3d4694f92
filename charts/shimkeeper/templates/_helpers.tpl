{{/*
Names are fixed, as in manifests/: one shimkeeper per cluster (two controllers would both act on
every Shim), and a second release fails on the cluster-scoped RBAC names instead of running one.
*/}}
{{- define "shimkeeper.name" -}}shimkeeper-controller{{- end -}}

{{/* The Pod selector; immutable on the Deployment, so the same as manifests/ uses. */}}
{{- define "shimkeeper.selectorLabels" -}}
app.kubernetes.io/name: shimkeeper-controller
{{- end -}}

{{- define "shimkeeper.labels" -}}
{{ include "shimkeeper.selectorLabels" . }}
app.kubernetes.io/part-of: shimkeeper
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository@digest when a digest is given, else repository:tag (tag default: appVersion). */}}
{{- define "shimkeeper.image" -}}
{{- $image := index . 0 -}}{{- $appVersion := index . 1 -}}
{{- if $image.digest -}}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" $image.digest) -}}{{- fail (printf "image digest must be sha256:<64 hex>, not %q" $image.digest) -}}{{- end -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (toString ($image.tag | default $appVersion)) -}}
{{- end -}}
{{- end -}}

{{/*
A value as an environment variable's text: YAML numbers arrive as float64, which would print
1073741824 as 1.073741824e+09.
*/}}
{{- define "shimkeeper.text" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}

{{/* SHIMKEEPER_INSTALLER_EXTRA_ENV: the proxy values, then installer.env, as a JSON object of strings. */}}
{{- define "shimkeeper.installerExtraEnv" -}}
{{- $env := dict -}}
{{- with .Values.proxy.httpProxy }}{{ $_ := set $env "HTTP_PROXY" . }}{{ end -}}
{{- with .Values.proxy.httpsProxy }}{{ $_ := set $env "HTTPS_PROXY" . }}{{ end -}}
{{- with .Values.proxy.noProxy }}{{ $_ := set $env "NO_PROXY" . }}{{ end -}}
{{- range $name, $value := .Values.installer.env }}{{ $_ := set $env $name (include "shimkeeper.text" $value) }}{{ end -}}
{{- toJson $env -}}
{{- end -}}

{{/* SHIMKEEPER_INSTALLER_PULL_SECRETS: the names of imagePullSecrets, comma-separated. */}}
{{- define "shimkeeper.pullSecretNames" -}}
{{- $names := list -}}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end -}}
{{- join "," $names -}}
{{- end -}}
