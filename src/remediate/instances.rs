//! The singleton guard: which pods are instances of one validator, and whether another instance
//! of a pod's validator is still terminating or starting. Restarting the pod then could leave two
//! copies running (double signing), which is worse than no automation at all. Pure.
//!
//! Two pods are instances of the same validator when
//! - both carry the policy's `instanceLabel` with the same value (an empty value is no value); or
//! - they belong to the same workload ([`Workload`]): the Deployment (or whatever controls it)
//!   behind their ReplicaSet, not the ReplicaSet, which a rollout replaces; for a StatefulSet's
//!   pod, that pod alone (each ordinal is a validator with its own identity and volume); for any
//!   other controller, that controller; for a pod without one, the pod alone.
//!
//! The label adds to the workload rule and never replaces it: a rollout that changed the label
//! still keeps the old and the new instance apart.
//!
//! Another instance is *unsettled* while it is
//! - terminating: its deletion has begun and its object is not gone (its containers may run);
//! - starting: not `Succeeded` or `Failed`, and not `Ready`, or `Ready` for less than
//!   `startupGrace` since its containers last started. A pod whose node stopped reporting (phase
//!   `Unknown`, not Ready) counts as starting: it may well still run.
//!
//! Assumptions: the instances are the pods the operator watches (those a NodeHealth of its shard
//! selects), in the namespace of the policy. An instance no NodeHealth selects is not seen.

use std::time::Duration;

use jiff::Timestamp;

/// The workload a pod belongs to, as far as "the same validator" goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// No controller: the pod is a validator of its own.
    Pod(String),
    /// A StatefulSet's pod: each ordinal is a validator of its own. The API server keeps one pod
    /// per name, and the StatefulSet creates an ordinal's replacement only once the old pod is
    /// gone, with either `podManagementPolicy`: `Parallel` only starts and stops several
    /// ordinals at once, and those are different validators.
    Ordinal { set: String, pod: String },
    /// Any other controller, by kind and name (names, not UIDs: a Deployment deleted and created
    /// again with the same name is still the same validator).
    Controller { kind: String, name: String },
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Workload::Pod(pod) => write!(f, "pod {pod}"),
            Workload::Ordinal { set, pod } => write!(f, "StatefulSet {set}, pod {pod}"),
            Workload::Controller { kind, name } => write!(f, "{kind} {name}"),
        }
    }
}

/// The controlling owner of a pod or of a ReplicaSet (its `ownerReferences` entry with
/// `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// What the operator knows of the ReplicaSet that controls a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind<'a> {
    /// The ReplicaSet was read: its controller (a Deployment, an Argo Rollout…), or none.
    Read(Option<&'a Owner>),
    /// Not read (yet): the pod's `pod-template-hash` label, if any, for the Deployment's
    /// naming rule.
    Unread { template_hash: Option<&'a str> },
}

/// The workload of a pod named `pod` whose controller is `controller`.
///
/// A ReplicaSet the operator has not read (its watch has not listed it yet) is taken for its
/// Deployment's when the Deployment controller's naming says so: it names a ReplicaSet
/// `<deployment>-<pod-template-hash>` and labels its pods with that hash. Otherwise the
/// ReplicaSet is the workload.
pub fn workload(pod: &str, controller: Option<&Owner>, behind: Behind<'_>) -> Workload {
    let Some(owner) = controller else {
        return Workload::Pod(pod.to_owned());
    };
    let named = |o: &Owner| Workload::Controller {
        kind: o.kind.clone(),
        name: o.name.clone(),
    };
    match (owner.kind.as_str(), behind) {
        ("StatefulSet", _) => Workload::Ordinal {
            set: owner.name.clone(),
            pod: pod.to_owned(),
        },
        ("ReplicaSet", Behind::Read(Some(above))) => named(above),
        (
            "ReplicaSet",
            Behind::Unread {
                template_hash: Some(hash),
            },
        ) => owner
            .name
            .strip_suffix(hash)
            .and_then(|n| n.strip_suffix('-'))
            .filter(|n| !n.is_empty())
            .map_or_else(
                || named(owner),
                |deployment| Workload::Controller {
                    kind: "Deployment".to_owned(),
                    name: deployment.to_owned(),
                },
            ),
        _ => named(owner),
    }
}

/// What the guard knows of one watched pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub uid: String,
    /// The value of the policy's `instanceLabel` on the pod (absent or empty: `None`).
    pub label: Option<String>,
    pub workload: Workload,
    /// Its deletion has begun.
    pub terminating: bool,
    /// `Succeeded` or `Failed`: its containers do not run any more.
    pub finished: bool,
    /// Its `Ready` condition is True.
    pub ready: bool,
    /// The latest (re)start of its running containers, else of the pod.
    pub started: Option<Timestamp>,
}

impl Instance {
    fn starting(&self, grace: Duration, now: Timestamp) -> bool {
        !self.finished && (!self.ready || within_grace(self.started, grace, now))
    }

    /// Why `other` is an instance of the same validator, if it is.
    fn same_as(&self, other: &Instance, label_key: Option<&str>) -> Option<String> {
        match (label_key, &self.label, &other.label) {
            (Some(key), Some(a), Some(b)) if a == b => Some(format!("instanceLabel {key}={a}")),
            _ => (self.workload == other.workload).then(|| self.workload.to_string()),
        }
    }
}

/// Whether a pod started at `started` is still within `grace` at `now` (unknown: it is).
pub fn within_grace(started: Option<Timestamp>, grace: Duration, now: Timestamp) -> bool {
    started.is_none_or(|s| Duration::try_from(now.duration_since(s)).unwrap_or(Duration::ZERO) < grace)
}

/// Another instance of a pod's validator that is terminating or starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    /// Its pod name.
    pub pod: String,
    /// Terminating (else starting).
    pub terminating: bool,
    /// What makes it the same validator, e.g. `Deployment web`, `instanceLabel key=alice`.
    pub same: String,
}

/// The other instance of the validator of the pod `uid` that a restart of it must wait for: a
/// terminating one first, else a starting one (by name, for a stable message). `None` also when
/// the pod is not among `instances` (it is gone: there is nothing to restart).
pub fn unsettled(
    uid: &str,
    instances: &[Instance],
    label_key: Option<&str>,
    grace: Duration,
    now: Timestamp,
) -> Option<Unsettled> {
    let me = instances.iter().find(|i| i.uid == uid)?;
    let mut found: Vec<Unsettled> = instances
        .iter()
        .filter(|i| i.uid != uid)
        .filter(|i| i.terminating || i.starting(grace, now))
        .filter_map(|i| {
            Some(Unsettled {
                pod: i.name.clone(),
                terminating: i.terminating,
                same: me.same_as(i, label_key)?,
            })
        })
        .collect();
    found.sort_by(|a, b| (!a.terminating, &a.pod).cmp(&(!b.terminating, &b.pod)));
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(600);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn owner(kind: &str, name: &str) -> Owner {
        Owner {
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }

    fn deployment(name: &str) -> Workload {
        Workload::Controller {
            kind: "Deployment".to_owned(),
            name: name.to_owned(),
        }
    }

    /// A Ready instance of `workload`, started an hour before `at(0)`.
    fn settled(name: &str, workload: Workload) -> Instance {
        Instance {
            name: name.to_owned(),
            uid: format!("{name}-uid"),
            label: None,
            workload,
            terminating: false,
            finished: false,
            ready: true,
            started: Some(at(-3600)),
        }
    }

    fn guard(instances: &[Instance], uid: &str, key: Option<&str>) -> Option<Unsettled> {
        unsettled(uid, instances, key, GRACE, at(0))
    }

    #[test]
    fn the_pods_of_a_deployment_rollout_are_one_validator_by_the_deployment_behind_their_replica_sets() {
        let web = owner("Deployment", "web");
        let (old, new) = (
            owner("ReplicaSet", "web-5d9c7b8f4"),
            owner("ReplicaSet", "web-7f6d5c4b3"),
        );
        assert_eq!(
            workload("web-5d9c7b8f4-abcde", Some(&old), Behind::Read(Some(&web))),
            deployment("web")
        );
        assert_eq!(
            workload("web-7f6d5c4b3-fghij", Some(&new), Behind::Read(Some(&web))),
            deployment("web")
        );
        // Another controller of ReplicaSets (Argo Rollouts) is the workload just the same.
        let rollout = owner("Rollout", "web");
        assert_eq!(
            workload("p", Some(&old), Behind::Read(Some(&rollout))),
            Workload::Controller {
                kind: "Rollout".into(),
                name: "web".into()
            }
        );
        // A ReplicaSet of its own is its own workload.
        assert_eq!(
            workload("p", Some(&old), Behind::Read(None)),
            Workload::Controller {
                kind: "ReplicaSet".into(),
                name: "web-5d9c7b8f4".into()
            }
        );
    }

    #[test]
    fn a_replica_set_not_read_yet_is_its_deployments_by_the_naming_rule_only_when_it_fits() {
        let rs = owner("ReplicaSet", "web-5d9c7b8f4");
        let unread = |hash| Behind::Unread { template_hash: hash };
        assert_eq!(workload("p", Some(&rs), unread(Some("5d9c7b8f4"))), deployment("web"));
        let itself = Workload::Controller {
            kind: "ReplicaSet".into(),
            name: "web-5d9c7b8f4".into(),
        };
        assert_eq!(
            workload("p", Some(&rs), unread(Some("0000000"))),
            itself,
            "another hash"
        );
        assert_eq!(workload("p", Some(&rs), unread(None)), itself, "no hash label");
        let bare = owner("ReplicaSet", "-5d9c7b8f4");
        assert!(matches!(
            workload("p", Some(&bare), unread(Some("5d9c7b8f4"))),
            Workload::Controller { kind, .. } if kind == "ReplicaSet"
        ));
    }

    #[test]
    fn each_pod_of_a_stateful_set_is_a_validator_of_its_own_and_a_pod_without_controller_too() {
        let sts = owner("StatefulSet", "v");
        assert_ne!(
            workload("v-0", Some(&sts), Behind::Read(None)),
            workload("v-1", Some(&sts), Behind::Read(None))
        );
        assert_eq!(
            workload("v-0", Some(&sts), Behind::Read(None)).to_string(),
            "StatefulSet v, pod v-0"
        );
        assert_eq!(workload("solo", None, Behind::Read(None)), Workload::Pod("solo".into()));
        let ds = owner("DaemonSet", "agents");
        assert_eq!(
            workload("agents-x", Some(&ds), Behind::Read(None)).to_string(),
            "DaemonSet agents"
        );
    }

    #[test]
    fn a_terminating_instance_of_the_same_workload_blocks_and_is_named() {
        let new = settled("web-new", deployment("web"));
        let mut old = settled("web-old", deployment("web"));
        old.terminating = true;
        let other = settled("db-0", deployment("db"));
        let mut other_terminating = other.clone();
        other_terminating.terminating = true;
        let got = guard(&[new.clone(), old.clone(), other_terminating], "web-new-uid", None);
        assert_eq!(
            got,
            Some(Unsettled {
                pod: "web-old".into(),
                terminating: true,
                same: "Deployment web".into()
            })
        );
        assert_eq!(guard(&[new.clone(), old.clone()], "web-old-uid", None), None, "itself");
        old.terminating = false;
        assert_eq!(guard(&[new.clone(), old], "web-new-uid", None), None, "settled");
        assert_eq!(guard(&[other], "web-new-uid", None), None, "the pod is gone");
    }

    #[test]
    fn a_starting_instance_blocks_until_ready_past_startup_grace() {
        let me = settled("a", deployment("web"));
        let mut other = settled("b", deployment("web"));
        let blocked = |o: &Instance| guard(&[me.clone(), o.clone()], "a-uid", None).map(|u| u.terminating);
        other.ready = false;
        assert_eq!(blocked(&other), Some(false), "not Ready (Pending, no IP, node lost)");
        (other.ready, other.started) = (true, Some(at(-599)));
        assert_eq!(blocked(&other), Some(false), "Ready within startupGrace of its start");
        other.started = None;
        assert_eq!(blocked(&other), Some(false), "no start known");
        other.started = Some(at(-600));
        assert_eq!(blocked(&other), None, "Ready and past its grace");
        (other.ready, other.finished) = (false, true);
        assert_eq!(blocked(&other), None, "Succeeded or Failed: its containers are done");
    }

    #[test]
    fn the_instance_label_joins_unrelated_owners_and_never_splits_a_workload() {
        let key = Some("validator-key");
        let mut a = settled(
            "alpha-0",
            Workload::Ordinal {
                set: "alpha".into(),
                pod: "alpha-0".into(),
            },
        );
        let mut b = settled(
            "beta-0",
            Workload::Ordinal {
                set: "beta".into(),
                pod: "beta-0".into(),
            },
        );
        (a.label, b.label, b.ready) = (Some("alice".into()), Some("alice".into()), false);
        let got = guard(&[a.clone(), b.clone()], "alpha-0-uid", key).unwrap();
        assert_eq!(
            (got.pod.as_str(), got.same.as_str()),
            ("beta-0", "instanceLabel validator-key=alice")
        );
        assert_eq!(
            guard(&[a.clone(), b.clone()], "alpha-0-uid", None),
            None,
            "no instanceLabel in the policy"
        );
        b.label = Some("bob".into());
        assert_eq!(
            guard(&[a.clone(), b.clone()], "alpha-0-uid", key),
            None,
            "another validator"
        );
        b.label = None;
        assert_eq!(
            guard(&[a.clone(), b], "alpha-0-uid", key),
            None,
            "no label: by workload only"
        );
        // A rollout that changed the label: still the same Deployment.
        let (mut old, mut new) = (
            settled("web-old", deployment("web")),
            settled("web-new", deployment("web")),
        );
        (old.label, old.terminating, new.label) = (Some("alice".into()), true, Some("alice-2".into()));
        assert_eq!(guard(&[old, new], "web-new-uid", key).unwrap().same, "Deployment web");
    }

    #[test]
    fn a_terminating_instance_is_named_before_a_starting_one() {
        let me = settled("a", deployment("web"));
        let mut starting = settled("b", deployment("web"));
        starting.ready = false;
        let mut terminating = settled("c", deployment("web"));
        terminating.terminating = true;
        let got = guard(&[me, starting, terminating], "a-uid", None).unwrap();
        assert_eq!((got.pod.as_str(), got.terminating), ("c", true));
    }
}
