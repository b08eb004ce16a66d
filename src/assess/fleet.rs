//! Lag against the fleet: a node can call itself synced while it is thousands of blocks behind
//! (the reason Cosmos operators built height-drift checks). Each NodeHealth's pods are compared
//! with the highest height among those that answered and are not syncing: the fleet reference.

use crate::model::{PodVerdict, Status, SyncState};

/// The fleet's reference: the pod with the highest head among those that answered and do not
/// say they are catching up (a syncing or booting node is no reference of the network's head).
fn reference<'a>(pods: &[(&'a str, &PodVerdict)]) -> Option<(&'a str, f64)> {
    pods.iter()
        .filter(|(_, v)| !matches!(v.sync_state, SyncState::Syncing | SyncState::Booting))
        .filter_map(|(name, v)| Some((*name, v.figures.state_version?)))
        .filter(|(_, h)| h.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Judges every pod against the fleet reference: a pod `max_lag` or more blocks behind it is
/// OutOfSync (a syncing pod keeps its state: it says it is behind, and the reason says how
/// far). With fewer than two pods reporting a height there is no reference, and each says so.
pub fn judge(pods: &mut [(&str, &mut PodVerdict)], max_lag: f64) {
    let heights = pods.iter().filter(|(_, v)| v.figures.state_version.is_some()).count();
    let view: Vec<(&str, &PodVerdict)> = pods.iter().map(|(n, v)| (*n, &**v)).collect();
    let Some((ref_pod, ref_height)) = reference(&view).filter(|_| heights >= 2) else {
        for (_, v) in pods.iter_mut().filter(|(_, v)| v.figures.state_version.is_some()) {
            v.reasons
                .push("no fleet reference: no other selected pod reports a height to compare with".to_owned());
        }
        return;
    };
    let ref_pod = ref_pod.to_owned();
    for (name, v) in pods.iter_mut() {
        let Some(height) = v.figures.state_version else {
            continue;
        };
        let behind = ref_height - height;
        if *name == ref_pod || behind < max_lag {
            continue;
        }
        let why = format!(
            "{behind:.0} blocks behind the fleet's highest ({ref_pod} at {ref_height:.0}; maxHeightLag {max_lag:.0})"
        );
        // A node that says it is behind (syncing), or was already judged out of sync by its own
        // figures, keeps its first reason: the fleet's view comes after.
        if matches!(v.sync_state, SyncState::Syncing | SyncState::OutOfSync) {
            v.reasons.push(why);
            if v.sync_state == SyncState::Syncing {
                continue;
            }
        } else {
            v.reasons.insert(0, why);
        }
        v.sync_state = SyncState::OutOfSync;
        v.status = v.status.max(Status::NotReady);
        v.healthy = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(height: Option<f64>, sync: SyncState) -> PodVerdict {
        let mut v = PodVerdict::new(Status::Ready, sync);
        v.figures.state_version = height;
        v
    }

    fn judged(mut pods: Vec<(&str, PodVerdict)>, max_lag: f64) -> Vec<PodVerdict> {
        let mut refs: Vec<(&str, &mut PodVerdict)> = pods.iter_mut().map(|(n, v)| (*n, v)).collect();
        judge(&mut refs, max_lag);
        pods.into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn a_node_that_calls_itself_synced_far_behind_the_fleet_is_out_of_sync() {
        let out = judged(
            vec![
                ("v-0", pod(Some(1000.0), SyncState::Synced)),
                ("v-1", pod(Some(1002.0), SyncState::Synced)),
                ("v-2", pod(Some(900.0), SyncState::Synced)),
            ],
            10.0,
        );
        assert!(out[0].healthy && out[1].healthy, "within maxHeightLag");
        assert_eq!(
            (out[2].sync_state, out[2].status, out[2].healthy),
            (SyncState::OutOfSync, Status::NotReady, false)
        );
        assert_eq!(
            out[2].reasons[0],
            "102 blocks behind the fleet's highest (v-1 at 1002; maxHeightLag 10)"
        );
    }

    #[test]
    fn syncing_nodes_are_no_reference_and_keep_their_state() {
        let out = judged(
            vec![
                ("v-0", pod(Some(1000.0), SyncState::Synced)),
                ("v-1", pod(Some(5000.0), SyncState::Syncing)),
                ("v-2", pod(Some(500.0), SyncState::Syncing)),
            ],
            10.0,
        );
        assert!(out[0].healthy, "a syncing node's height is not the network's");
        assert_eq!(out[2].sync_state, SyncState::Syncing);
        assert!(out[2].reasons[0].contains("500 blocks behind the fleet's highest (v-0"));
    }

    #[test]
    fn a_fleet_of_one_has_no_reference_and_says_so() {
        let out = judged(
            vec![
                ("v-0", pod(Some(1000.0), SyncState::Synced)),
                ("v-1", pod(None, SyncState::Unknown)),
            ],
            10.0,
        );
        assert!(out[0].healthy);
        assert!(out[0].reasons[0].starts_with("no fleet reference"));
        assert!(
            out[1].reasons.is_empty(),
            "a pod without a height says nothing of the fleet"
        );
    }
}
