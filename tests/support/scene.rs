//! A policy over a simulated fleet with an operator, and what remediation tests look at.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::{Client, ResourceExt};
use nodehealth::crd::NodeHealth;
use serde_json::{Value, json};

use super::fleet::{Fleet, WAIT, condition, condition_is, create_nodehealth, radix_spec};
use super::operator::{Operator, install_crd};
use super::wait::{events, eventually, get, wait_for};

/// Behind by an hour and falling further behind, at half real time: `NotReady (OutOfSync)`
/// ("such Node cannot be considered healthy"), and no longer catching up.
pub fn out_of_sync() -> Value {
    json!({"mode": "catching_up", "rate": 0.5, "behind_seconds": 3600})
}

/// The Radix policy of the fleet with a remediation section.
pub fn spec_with(remediation: Value) -> Value {
    let mut spec = radix_spec();
    spec["remediation"] = remediation;
    spec
}

/// A simulated fleet (validators spread over two nodes), an operator, and a NodeHealth
/// `validators` over the fleet with this remediation section, all pods healthy.
pub struct Scene {
    pub fleet: Fleet,
    pub op: Operator,
    pub api: Api<NodeHealth>,
}

impl Scene {
    pub async fn start(client: &Client, ns: &str, pods: usize, operator_args: &[&str], remediation: Value) -> Scene {
        Scene::with_spec(client, ns, pods, "radix", operator_args, spec_with(remediation)).await
    }

    /// As [`Scene::start`], with a whole spec and a profile.
    pub async fn with_spec(
        client: &Client,
        ns: &str,
        pods: usize,
        profile: &'static str,
        operator_args: &[&str],
        spec: Value,
    ) -> Scene {
        install_crd(client).await;
        let fleet = Fleet::start(client, ns, pods, profile, 2).await;
        let op = Operator::start(ns, operator_args).await;
        create_nodehealth(client, ns, "validators", spec).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
        wait_for(&api, "validators", WAIT, "every pod healthy", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;
        Scene { fleet, op, api }
    }
}

pub fn remediation(nh: &NodeHealth) -> nodehealth::crd::RemediationStatus {
    nh.status
        .as_ref()
        .and_then(|s| s.remediation.clone())
        .unwrap_or_default()
}

pub fn reason_is(nh: &NodeHealth, type_: &str, status: &str, reason: &str) -> bool {
    condition(nh, type_).is_some_and(|c| c.status == status && c.reason == reason)
}

pub async fn pod_uid(client: &Client, ns: &str, name: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.get(name).await.expect("pod").uid().unwrap()
}

pub fn cordoned(n: &Node) -> bool {
    n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
}

/// Waits for at least one event with this reason whose note contains `needle`.
pub async fn event_with(client: &Client, ns: &str, reason: &str, needle: &str) {
    eventually(WAIT, &format!("a {reason} event about {needle:?}"), || {
        let (client, ns) = (client.clone(), ns.to_owned());
        async move {
            let evs = events(&client, &ns, reason).await;
            if evs
                .iter()
                .any(|e| e.note.as_deref().is_some_and(|n| n.contains(needle)))
            {
                Ok(())
            } else {
                Err(format!("{} {reason} events", evs.len()))
            }
        }
    })
    .await;
}

pub async fn metrics_of(op: &Operator) -> String {
    let (_, page) = get(&format!("http://{}/metrics", op.http))
        .await
        .expect("the operator's metrics");
    page
}

pub async fn count_events(client: &Client, ns: &str, reason: &str) -> usize {
    events(client, ns, reason).await.len()
}
