{{- /*
The operator's permissions, one rule per use, each with the code that needs it. Never secrets,
never `*`, never delete. tests/chart.rs renders every combination (default, remediation,
watchNamespace with and without it) and compares the rules with its allow-list: a grant added
here fails that test until it is justified there too.

Verbs come from what the operator calls (src/controller/):
- watches (kube's watcher: list, then watch; never get): NodeHealths (mod.rs) and pods (pods.rs);
- NodeHealth status: server-side apply, a PATCH of the status subresource (reconcile.rs
  write_status); a GET of it by a leader that has not written it since it began leading
  (reconcile.rs previous_status: the watch's copy may be older); never update;
- events.k8s.io events: kube's Recorder creates an event, then patches it when it recurs;
- remediation (act.rs): POST pods/eviction; nodes are read one by one (get) and cordoned or
  uncordoned by PATCH; never list or watch. ReplicaSets are watched, metadata only
  (workloads.rs), for the singleton guard.
*/ -}}

{{/* Rules on what the operator watches: at cluster scope (ClusterRole), or in watchNamespace (Role). */}}
{{- define "nodehealth-operator.rules.watched" -}}
# The policies: watched (list + watch).
# patch: metadata only, for the finalizer the operator is about to put on a NodeHealth with
# remediation, so that deleting it first releases what it cordoned; the finalizer is added and
# removed by a metadata patch (never the spec). Granted ahead of that change, on purpose.
- apiGroups: ["nodehealth.io"]
  resources: ["nodehealths"]
  verbs: ["list", "watch", "patch"]
# Status by server-side apply (field manager `nodehealth`): a PATCH of the status subresource.
# get: read back by a new leader before it builds on it, since the watch's copy may be older.
- apiGroups: ["nodehealth.io"]
  resources: ["nodehealths/status"]
  verbs: ["get", "patch"]
# The validators the policies select: watched (list + watch).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# PodUnhealthy, PodRecovered, InvalidSpec, remediation's events: kube's Recorder creates an event
# and patches it when it recurs.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.remediation }}
# Remediation: restart a validator pod through the Eviction API (PodDisruptionBudgets apply).
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
# Remediation's singleton guard: the owner of a pod's ReplicaSet (its Deployment), so that a
# rollout's old and new pods count as one validator and one is never restarted while the other
# terminates or starts. Watched, metadata only (list + watch); never read one by one.
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}

{{/* Remediation's cluster-scoped rules: cordon and uncordon nodes. */}}
{{- define "nodehealth-operator.rules.nodes" -}}
# Cordon: each node read by name (get), then cordoned or uncordoned by a patch.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "patch"]
{{- end }}

{{/* Events about nodes, which the operator records in `default` (with watchNamespace and remediation). */}}
{{- define "nodehealth-operator.rules.nodeEvents" -}}
# NodeCordoned, NodeUncordoned, WouldCordon: events about a node are recorded in `default` (the
# API server takes an event about a cluster-scoped object there).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Whether a ClusterRole is rendered: without watchNamespace, or for nodes with remediation ("true" or ""). */}}
{{- define "nodehealth-operator.clusterRole" -}}
{{- if and .Values.rbac.create (or (not .Values.watchNamespace) .Values.rbac.remediation) }}true{{ end }}
{{- end }}

{{/* Whether the Role for events about nodes in `default` is rendered ("true" or ""). */}}
{{- define "nodehealth-operator.nodeEventsRole" -}}
{{- if and .Values.rbac.create .Values.watchNamespace .Values.rbac.remediation (ne .Values.watchNamespace "default") }}true{{ end }}
{{- end }}
