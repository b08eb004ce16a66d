//! Overlapping policies: a pod that several NodeHealths select, each with remediation, gets
//! one ladder, one rate limit, one restart budget and one cordon owner, not one per policy.
//!
//! The rule: the **oldest** NodeHealth of the pod's namespace that selects it and may act on it
//! (a valid spec with `remediation`, not in dry run) remediates it; ties of creation time (a
//! second's resolution) go to the first name. Every other policy keeps assessing the pod,
//! counts it in its own gates (a stalled network or `maxUnhealthy` is judged on everything it
//! selects), but never acts on it: the step is blocked with `Overlap`, and its status lists the
//! pod with the owner.
//!
//! Why the oldest: it is stable (a new policy, a spec edit or a restart of the operator never
//! moves a pod to another ladder mid-incident) and every replica computes it alone. A paused
//! owner keeps its pods: pausing one policy must not hand them to another.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

/// A NodeHealth that may remediate the pods it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// `namespace/name`, the value overlapping policies report.
    pub key: String,
    pub namespace: String,
    pub name: String,
    /// Its creation time; `None` only for an object not yet stored (sorts last).
    pub created: Option<Timestamp>,
    pub selector: Selector,
}

impl Claimant {
    /// Older first; a missing time last; equal times by name.
    fn precedence(&self) -> (bool, Option<Timestamp>, &str) {
        (self.created.is_none(), self.created, self.name.as_str())
    }
}

/// The policy that remediates a pod of `namespace` with `labels`, among `claimants`.
pub fn owner<'a>(
    claimants: impl IntoIterator<Item = &'a Claimant>,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'a Claimant> {
    claimants
        .into_iter()
        .filter(|c| c.namespace == namespace && c.selector.matches(labels))
        .min_by(|a, b| a.precedence().cmp(&b.precedence()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn claimant(name: &str, created: Option<i64>, labels: &[(&str, &str)]) -> Claimant {
        let selector = LabelSelector {
            match_labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
            match_expressions: None,
        };
        Claimant {
            key: format!("ns/{name}"),
            namespace: "ns".into(),
            name: name.into(),
            created: created.map(|s| Timestamp::from_second(s).unwrap()),
            selector: Selector::try_from(selector).unwrap(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn the_oldest_policy_that_selects_the_pod_owns_it() {
        let all = claimant("all", Some(200), &[("app", "validator")]);
        let zone = claimant("zone-a", Some(100), &[("app", "validator"), ("zone", "a")]);
        let cs = [all.clone(), zone.clone()];
        let in_a = labels(&[("app", "validator"), ("zone", "a")]);
        let in_b = labels(&[("app", "validator"), ("zone", "b")]);
        assert_eq!(owner(&cs, "ns", &in_a).map(|c| c.name.as_str()), Some("zone-a"));
        // zone-a does not select it: the newer policy is its only claimant.
        assert_eq!(owner(&cs, "ns", &in_b).map(|c| c.name.as_str()), Some("all"));
        assert_eq!(owner(&cs, "ns", &labels(&[("app", "other")])), None);
    }

    #[test]
    fn equal_times_go_to_the_first_name_and_unknown_times_last() {
        let cs = [
            claimant("b", Some(100), &[("app", "v")]),
            claimant("a", Some(100), &[("app", "v")]),
            claimant("0-new", None, &[("app", "v")]),
        ];
        assert_eq!(
            owner(&cs, "ns", &labels(&[("app", "v")])).map(|c| c.name.as_str()),
            Some("a")
        );
    }

    #[test]
    fn policies_of_another_namespace_never_own_a_pod() {
        let mut other = claimant("old", Some(1), &[("app", "v")]);
        other.namespace = "elsewhere".into();
        let mine = claimant("mine", Some(100), &[("app", "v")]);
        let cs = [other, mine];
        assert_eq!(
            owner(&cs, "ns", &labels(&[("app", "v")])).map(|c| c.name.as_str()),
            Some("mine")
        );
    }
}
