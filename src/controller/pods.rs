//! The pod watch, narrowed to the pods this replica's NodeHealths select.
//!
//! Every shard watches every pod (a NodeHealth's selector can be anything), but keeps only those
//! one of its own NodeHealths selects: without this, each of n shards would cache and scan the
//! whole cluster's pods, and sharding would not divide memory or the per-reconcile selection.
//! When the shard's set of selectors changes (a NodeHealth added, edited or moved here), the
//! watch lists again, so that pods dropped before are picked up; reconciles wait for that list
//! ([`super::SyncGate`]), so a new selector never reads as "no pods".

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::core::{DeserializeGuard, Selector, SelectorExt};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch;

use super::watches::strip_pod;
use crate::crd::NodeHealth;
use crate::policy;

/// A NodeHealth's namespace, selector and reference.
type Selecting = (Option<String>, Selector, ObjectRef<DeserializeGuard<NodeHealth>>);

/// The selectors of this replica's NodeHealths.
pub(super) struct ShardSelectors {
    current: RwLock<Arc<Vec<Selecting>>>,
    /// Fingerprint of `current`; 0 until the NodeHealths have been listed.
    changed: watch::Sender<u64>,
}

impl ShardSelectors {
    pub(super) fn new() -> ShardSelectors {
        ShardSelectors {
            current: RwLock::new(Arc::default()),
            changed: watch::Sender::new(0),
        }
    }

    /// Reads the selectors again from the NodeHealth store; a different set wakes the pod watch.
    pub(super) fn refresh(&self, store: &Store<DeserializeGuard<NodeHealth>>) {
        let mut selectors: Vec<Selecting> = store
            .state()
            .iter()
            .filter_map(|guard| {
                let nh = guard.0.as_ref().ok()?;
                let policy = policy::validate(&nh.spec).ok()?;
                Some((nh.namespace(), policy.selector, ObjectRef::from_obj(guard.as_ref())))
            })
            .collect();
        selectors.sort_by_cached_key(|(ns, s, _)| (ns.clone(), s.to_string()));
        let mut h = DefaultHasher::new();
        for (ns, s, _) in &selectors {
            (ns, s.to_string()).hash(&mut h);
        }
        // Never 0: that is "not listed yet".
        let fingerprint = h.finish() | 1;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(selectors);
        self.changed
            .send_if_modified(|v| std::mem::replace(v, fingerprint) != fingerprint);
    }

    /// Whether one of the NodeHealths selects this pod.
    fn wants(&self, pod: &Pod) -> bool {
        self.matching(pod).next().is_some()
    }

    /// The NodeHealths whose selector matches this pod (same namespace): the policies a pod's
    /// change concerns. From the selectors parsed at the last change, not per pod event.
    pub(super) fn selecting(&self, pod: &Pod) -> Vec<ObjectRef<DeserializeGuard<NodeHealth>>> {
        self.matching(pod).collect()
    }

    fn matching<'a>(&self, pod: &'a Pod) -> impl Iterator<Item = ObjectRef<DeserializeGuard<NodeHealth>>> + 'a {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let (ns, labels) = (pod.namespace(), pod.labels());
        (0..current.len()).filter_map(move |i| {
            let (n, s, r) = &current[i];
            (*n == ns && s.matches(labels)).then(|| r.clone())
        })
    }
}

/// Pod events for the reflector: only wanted pods are added; a pod no longer wanted is removed
/// (its update becomes a delete); the watch starts once the NodeHealths are listed and starts
/// over when their selectors change.
pub(super) fn shard_pods(
    api: Api<Pod>,
    selectors: Arc<ShardSelectors>,
) -> impl Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Send {
    let rx = selectors.changed.subscribe();
    let start = move |api: &Api<Pod>| {
        watcher(api.clone(), watcher::Config::default())
            .modify(strip_pod)
            .boxed()
    };
    let state: (Option<BoxStream<'static, _>>, _, _) = (None, rx, api);
    futures::stream::unfold(state, move |(mut current, mut rx, api)| async move {
        loop {
            let Some(stream) = current.as_mut() else {
                // Err: the NodeHealth side is gone, so is the controller.
                rx.changed().await.ok()?;
                current = Some(start(&api));
                continue;
            };
            tokio::select! {
                ev = stream.next() => return Some((ev?, (current, rx, api))),
                changed = rx.changed() => {
                    changed.ok()?;
                    tracing::info!("the NodeHealths' selectors changed: listing pods again");
                    current = Some(start(&api));
                }
            }
        }
    })
    .filter_map(move |ev| std::future::ready(narrowed(ev, &selectors)))
}

fn narrowed(
    ev: Result<watcher::Event<Pod>, watcher::Error>,
    selectors: &ShardSelectors,
) -> Option<Result<watcher::Event<Pod>, watcher::Error>> {
    match ev {
        Ok(watcher::Event::InitApply(p)) => selectors.wants(&p).then_some(Ok(watcher::Event::InitApply(p))),
        Ok(watcher::Event::Apply(p)) if !selectors.wants(&p) => Some(Ok(watcher::Event::Delete(p))),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, app: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": ns, "labels": {"app": app}},
        }))
        .unwrap()
    }

    fn with(selectors: Vec<(Option<String>, Selector)>) -> ShardSelectors {
        let selectors = selectors
            .into_iter()
            .map(|(ns, s)| {
                (
                    ns.clone(),
                    s,
                    ObjectRef::new("nh").within(ns.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        let s = ShardSelectors::new();
        *s.current.write().unwrap() = Arc::new(selectors);
        s
    }

    #[test]
    fn only_pods_a_nodehealth_selects_are_kept_and_one_no_longer_selected_is_removed() {
        let sel: Selector = kube::core::Expression::Equal("app".into(), "validator".into()).into();
        let s = with(vec![(Some("v".into()), sel)]);
        let kept = narrowed(Ok(watcher::Event::InitApply(pod("v", "validator"))), &s);
        assert!(matches!(kept, Some(Ok(watcher::Event::InitApply(_)))));
        assert!(narrowed(Ok(watcher::Event::InitApply(pod("v", "web"))), &s).is_none());
        assert!(
            narrowed(Ok(watcher::Event::InitApply(pod("other", "validator"))), &s).is_none(),
            "another namespace"
        );
        let relabelled = narrowed(Ok(watcher::Event::Apply(pod("v", "web"))), &s);
        assert!(matches!(relabelled, Some(Ok(watcher::Event::Delete(_)))));
        assert!(matches!(
            narrowed(Ok(watcher::Event::Init), &s),
            Some(Ok(watcher::Event::Init))
        ));
    }
}
