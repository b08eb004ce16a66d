//! Letting go: a NodeHealth that may cordon carries a finalizer, so that deleting it (or
//! uninstalling the policies with the operator still running) uncordons the nodes it cordoned
//! before the object goes. Pure: the shell reads, patches and uncordons.

use serde_json::{Value, json};

use super::RemediationPolicy;
use crate::crd::{ActionResult, RemediationStatus};

/// The finalizer's name: what it waits for.
pub const FINALIZER: &str = "nodehealth.io/uncordon";

/// Whether the NodeHealth must carry the finalizer: it holds a cordon, or it may cordon.
///
/// `may_act` is the operator's `--remediation`: an operator that may not act never cordons,
/// so only a cordon recorded earlier needs releasing. A dry run never cordons either.
pub fn needs_finalizer(policy: Option<&RemediationPolicy>, status: Option<&RemediationStatus>, may_act: bool) -> bool {
    let may_cordon = may_act && policy.is_some_and(|p| !p.dry_run && p.ladder.iter().any(|(a, _)| a.cordons()));
    may_cordon || !nodes_to_release(status).is_empty()
}

/// The nodes to uncordon when the NodeHealth goes: every node it recorded as cordoned, and the
/// node of a cordon written ahead (`Pending`) whose outcome was never recorded. The shell
/// uncordons each only if it still carries this NodeHealth's annotation.
pub fn nodes_to_release(status: Option<&RemediationStatus>) -> Vec<String> {
    let Some(st) = status else { return Vec::new() };
    let mut nodes: Vec<String> = st.cordoned_nodes.iter().map(|c| c.node.clone()).collect();
    if let Some(pending) = st
        .last_remediation
        .as_ref()
        .filter(|r| r.result == ActionResult::Pending && r.action.cordons())
    {
        nodes.extend(pending.node.clone());
    }
    nodes.sort();
    nodes.dedup();
    nodes
}

/// The JSON patch that adds (`keep` true) or removes the finalizer, tested against the
/// resourceVersion read, so another finalizer added or removed in between is never lost (the
/// patch fails and the next reconcile decides again). `None`: nothing to change.
pub fn finalizer_patch(resource_version: Option<&str>, finalizers: &[String], keep: bool) -> Option<Value> {
    let at = finalizers.iter().position(|f| f == FINALIZER);
    let test = json!({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version});
    match (keep, at) {
        (true, Some(_)) | (false, None) => None,
        (true, None) if finalizers.is_empty() => {
            Some(json!([test, {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]))
        }
        (true, None) => Some(json!([test, {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}])),
        (false, Some(i)) => Some(json!([
            test,
            {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": FINALIZER},
            {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
        ])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{CordonedNode, RemediationRecord, RemediationSpec};
    use crate::remediate::validate;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn policy(v: Value) -> RemediationPolicy {
        validate(&serde_json::from_value::<RemediationSpec>(v).unwrap()).unwrap()
    }

    fn cordoned(node: &str) -> CordonedNode {
        CordonedNode {
            node: node.to_owned(),
            pod: "v-0".to_owned(),
            since: Time(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn only_policies_that_may_cordon_or_hold_a_cordon_carry_it() {
        let cordon = policy(json!({"actions": [{"action": "Cordon", "after": "5m"}]}));
        let restart = policy(json!({"actions": [{"action": "RestartPod", "after": "5m"}]}));
        let dry = policy(json!({"actions": [{"action": "CordonAndRestart", "after": "5m"}], "dryRun": true}));
        assert!(needs_finalizer(Some(&cordon), None, true));
        assert!(
            !needs_finalizer(Some(&cordon), None, false),
            "an operator that may not act never cordons"
        );
        assert!(
            !needs_finalizer(Some(&restart), None, true),
            "a restart leaves nothing to undo"
        );
        assert!(!needs_finalizer(Some(&dry), None, true));
        assert!(!needs_finalizer(None, None, true));
        let holding = RemediationStatus {
            cordoned_nodes: vec![cordoned("n1")],
            ..RemediationStatus::default()
        };
        assert!(
            needs_finalizer(None, Some(&holding), false),
            "a cordon held is released whatever the policy says now"
        );
    }

    #[test]
    fn a_written_ahead_cordon_is_released_too() {
        let record = |result, action| RemediationRecord {
            pod: "v-1".to_owned(),
            uid: None,
            node: Some("n2".to_owned()),
            action,
            time: Time(jiff::Timestamp::UNIX_EPOCH),
            reason: String::new(),
            result,
            summary: String::new(),
        };
        let mut st = RemediationStatus {
            cordoned_nodes: vec![cordoned("n1"), cordoned("n1")],
            last_remediation: Some(record(ActionResult::Pending, crate::crd::RemediationAction::Cordon)),
            ..RemediationStatus::default()
        };
        assert_eq!(nodes_to_release(Some(&st)), ["n1", "n2"]);
        st.last_remediation = Some(record(ActionResult::Pending, crate::crd::RemediationAction::RestartPod));
        assert_eq!(nodes_to_release(Some(&st)), ["n1"]);
        st.last_remediation = Some(record(ActionResult::Failed, crate::crd::RemediationAction::Cordon));
        assert_eq!(nodes_to_release(Some(&st)), ["n1"]);
    }

    #[test]
    fn the_finalizer_patch_is_tested_against_the_version_read() {
        let none: Vec<String> = vec![];
        let other = vec!["example.com/keep".to_owned()];
        let both = vec!["example.com/keep".to_owned(), FINALIZER.to_owned()];
        assert_eq!(
            finalizer_patch(Some("7"), &none, true),
            Some(
                json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
            )
        );
        assert_eq!(
            finalizer_patch(Some("7"), &other, true).unwrap()[1]["path"],
            "/metadata/finalizers/-"
        );
        assert_eq!(finalizer_patch(Some("7"), &both, true), None);
        assert_eq!(finalizer_patch(Some("7"), &other, false), None);
        assert_eq!(
            finalizer_patch(Some("8"), &both, false),
            Some(
                json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "8"},
                        {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                        {"op": "remove", "path": "/metadata/finalizers/1"}])
            )
        );
    }
}
