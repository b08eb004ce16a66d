//! Which NodeHealths may remediate the pods they select, over every shard: the index the
//! overlap rule (`remediate::overlap`) reads. It is fed by the NodeHealth watch before the shard
//! filter, so two overlapping policies handled by different replicas still see each other.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::watcher;

use super::lock;
use crate::crd::NodeHealth;
use crate::policy;
use crate::remediate::overlap::{self, Claimant};

#[derive(Default)]
pub(super) struct Claims {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By `namespace/name`.
    live: BTreeMap<String, Claimant>,
    /// A relist in progress: it replaces `live` when complete, so a policy deleted during a
    /// watch gap stops claiming its pods.
    relist: Option<BTreeMap<String, Claimant>>,
}

impl Claims {
    /// Takes one event of the NodeHealth watch.
    pub(super) fn seen(&self, ev: &Result<watcher::Event<DeserializeGuard<NodeHealth>>, watcher::Error>) {
        let Ok(ev) = ev else { return };
        let mut st = lock(&self.state);
        match ev {
            watcher::Event::Init => st.relist = Some(BTreeMap::new()),
            watcher::Event::InitApply(obj) => {
                if let (Some(relist), Some(c)) = (st.relist.as_mut(), claimant(obj)) {
                    relist.insert(c.key.clone(), c);
                }
            }
            watcher::Event::InitDone => {
                if let Some(relist) = st.relist.take() {
                    st.live = relist;
                }
            }
            watcher::Event::Apply(obj) => match claimant(obj) {
                Some(c) => {
                    st.live.insert(c.key.clone(), c);
                }
                None => {
                    st.live.remove(&key_of(obj));
                }
            },
            watcher::Event::Delete(obj) => {
                st.live.remove(&key_of(obj));
            }
        }
    }

    /// The NodeHealth (`namespace/name`) that remediates a pod of `namespace` with `labels`.
    pub(super) fn owner(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Option<String> {
        let st = lock(&self.state);
        overlap::owner(st.live.values(), namespace, labels).map(|c| c.key.clone())
    }
}

fn key_of(obj: &DeserializeGuard<NodeHealth>) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The object as a claimant: a readable, valid spec with remediation, not in dry run and not
/// being deleted (a deleted policy only releases its cordons).
fn claimant(obj: &DeserializeGuard<NodeHealth>) -> Option<Claimant> {
    let nh = obj.0.as_ref().ok()?;
    if nh.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let policy = policy::validate(&nh.spec).ok()?;
    if policy.remediation.as_ref().is_none_or(|r| r.dry_run) {
        return None;
    }
    Some(Claimant {
        key: key_of(obj),
        namespace: nh.namespace().unwrap_or_default(),
        name: nh.name_any(),
        created: nh.metadata.creation_timestamp.as_ref().map(|t| t.0),
        selector: policy.selector,
    })
}
