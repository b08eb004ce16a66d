//! A simulated validator fleet behind real pods: the simulator, the simulated kubelet, nodes.

use std::net::Ipv4Addr;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, PostParams};
use nodehealth::crd::NodeHealth;
use nodehealth::sim::{SimClient, SimProcess};

use super::kubelet::{Kubelet, ValidatorPod};

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Fleet {
    pub sim: SimProcess,
    pub kubelet: Kubelet,
    pub ns: String,
    pub profile: &'static str,
}

impl Fleet {
    /// `count` validators `validator-0..` labelled `app=validator`, spread over `nodes` nodes.
    pub async fn start(client: &Client, ns: &str, count: usize, profile: &'static str, nodes: usize) -> Fleet {
        let fleet = Fleet::without_pods(client, ns, count, profile, nodes).await;
        // A few at a time: hundreds of pods come up in seconds without flooding the API server.
        futures::stream::iter(0..count)
            .for_each_concurrent(16, |i| fleet.add_pod(i, nodes))
            .await;
        fleet
    }

    /// The simulator's `count` validators, the kubelet and `nodes` nodes, but no pod yet: the
    /// test stamps its own (owners, finalizers, start).
    pub async fn without_pods(client: &Client, ns: &str, count: usize, profile: &'static str, nodes: usize) -> Fleet {
        let sim = SimProcess::spawn_random_range(
            env!("CARGO_BIN_EXE_nodehealth-sim"),
            count as u32,
            &["--profile", profile],
            5,
        )
        .expect("simulator starts");
        Fleet::bare(client, ns, sim, profile, nodes).await
    }

    /// Pods `validator-0..` for every validator of a running simulator of this profile, on its
    /// profile's default ports.
    pub async fn on(client: &Client, ns: &str, sim: SimProcess, profile: &'static str, nodes: usize) -> Fleet {
        let count = sim.started.validators;
        let fleet = Fleet::bare(client, ns, sim, profile, nodes).await;
        // A few at a time: hundreds of pods come up in seconds without flooding the API server.
        futures::stream::iter(0..count)
            .for_each_concurrent(16, |i| fleet.add_pod(i, nodes))
            .await;
        fleet
    }

    /// The kubelet and `nodes` nodes over a running simulator, no pod yet.
    async fn bare(client: &Client, ns: &str, sim: SimProcess, profile: &'static str, nodes: usize) -> Fleet {
        let kubelet = Kubelet::start(client.clone(), ns, Some(sim.client().unwrap()));
        for n in 0..nodes {
            kubelet.create_node(&format!("{ns}-node-{n}")).await;
        }
        Fleet {
            sim,
            kubelet,
            ns: ns.to_owned(),
            profile,
        }
    }

    /// Creates pod `validator-{i}` on node `i % nodes`, answering at simulator address `i`.
    pub async fn add_pod(&self, i: usize, nodes: usize) {
        self.kubelet
            .create_pod(self.validator_pod(i, &format!("validator-{i}"), nodes))
            .await;
    }

    /// Pod `name` of simulator validator `i` on node `i % nodes`, labelled `app=validator`,
    /// declaring the profile's ports, started an hour ago.
    pub fn validator_pod(&self, i: usize, name: &str, nodes: usize) -> ValidatorPod {
        let profile: nodehealth::chains::Profile =
            serde_json::from_value(serde_json::json!(self.profile)).expect("a profile name");
        let (hp, mp) = (profile.default_health_port(), profile.default_metrics_port());
        ValidatorPod {
            name: name.to_owned(),
            node: format!("{}-node-{}", self.ns, i % nodes.max(1)),
            ip: self.ip(i).into(),
            labels: [("app".to_owned(), "validator".to_owned())].into(),
            ports: vec![("health".into(), hp), ("metrics".into(), mp)],
            started_seconds_ago: 3600,
        }
    }

    pub fn ip(&self, i: usize) -> Ipv4Addr {
        self.sim.ip(i).expect("validator index within the fleet")
    }

    pub fn sim(&self) -> SimClient {
        self.sim.client().unwrap()
    }

    pub async fn set_mode(&self, i: usize, mode: serde_json::Value) {
        self.sim()
            .set_mode(Some(self.ip(i)), mode)
            .await
            .expect("switch simulator mode");
    }
}

/// Creates a NodeHealth from a JSON spec.
pub async fn create_nodehealth(client: &Client, ns: &str, name: &str, spec: serde_json::Value) -> NodeHealth {
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
    let nh: NodeHealth = serde_json::from_value(serde_json::json!({
        "apiVersion": "nodehealth.io/v1alpha1", "kind": "NodeHealth",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("a NodeHealth");
    api.create(&PostParams::default(), &nh)
        .await
        .expect("create NodeHealth")
}

/// A Radix policy over `app=validator`, probing fast, with a short observed-rate window.
pub fn radix_spec() -> serde_json::Value {
    serde_json::json!({
        "selector": {"matchLabels": {"app": "validator"}},
        "profile": "radix",
        "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                  "period": "1s", "timeout": "1s"},
        "assessment": {"observedRateWindow": "10s"}
    })
}

/// The condition of this type, if any.
pub fn condition<'a>(
    nh: &'a NodeHealth,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    nh.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

pub fn condition_is(nh: &NodeHealth, type_: &str, status: &str) -> bool {
    condition(nh, type_).is_some_and(|c| c.status == status)
}

pub fn pod_row<'a>(nh: &'a NodeHealth, pod: &str) -> Option<&'a nodehealth::crd::PodHealth> {
    nh.status.as_ref()?.pods.iter().find(|p| p.name == pod)
}
