//! `nodehealth run`'s flags for high availability: leader election and shards.

use std::time::Duration;

use clap::Args;

use crate::controller::Election;
use crate::election::Timing;
use crate::shard::{self, Shard, ShardChoice};

#[derive(Debug, Args)]
pub struct HaArgs {
    /// This replica's name in Leases, events and `status.leader` (the chart passes the pod's
    /// name). Default: the host name and process id.
    #[arg(long, env = "NODEHEALTH_IDENTITY")]
    pub identity: Option<String>,
    /// Elect one leader per shard through a Lease: only the leader writes status, records
    /// events and acts; the other replicas probe, ready to take over. `false` runs a single
    /// replica that always leads (never run two of those for one shard).
    #[arg(long, env = "NODEHEALTH_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// This replica's shard: a number below `--total-shards`, or `ordinal` for the trailing
    /// number of its identity (a StatefulSet pod's name) modulo the total.
    #[arg(long, env = "NODEHEALTH_SHARD", default_value = "0")]
    pub shard: ShardChoice,
    /// Shards the NodeHealths are split across, by a hash of their UID.
    #[arg(long, env = "NODEHEALTH_TOTAL_SHARDS", default_value_t = 1)]
    pub total_shards: u32,
    /// Prefix of the Leases' names: shard k's is `<prefix>-shard-<k>`.
    #[arg(long, env = "NODEHEALTH_LEASE_NAME", default_value = "nodehealth")]
    pub lease_name: String,
    /// Namespace of the Leases. Default: `--namespace` if given, else the service account's
    /// namespace, else `default`.
    #[arg(long, env = "NODEHEALTH_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long standbys wait, from when they last saw the leader renew, before taking over.
    #[arg(long, env = "NODEHEALTH_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// How long the leader goes on without a successful renewal before it stops acting; below
    /// the lease duration, so it stops before anyone can take over.
    #[arg(long, env = "NODEHEALTH_RENEW_DEADLINE_SECONDS", default_value_t = 10)]
    pub renew_deadline_seconds: u64,
    /// How often the leader renews and standbys retry; 1.2 of it must fit in the renew deadline.
    #[arg(long, env = "NODEHEALTH_RETRY_PERIOD_SECONDS", default_value_t = 2)]
    pub retry_period_seconds: u64,
}

/// Who this replica is, which shard it handles and the Lease it competes for.
pub struct Ha {
    pub identity: String,
    pub shard: Shard,
    pub election: Option<Election>,
}

/// Where a service account's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl HaArgs {
    /// Checks the flags together; `namespace` is `--namespace`.
    pub fn resolve(self, namespace: Option<&str>) -> Result<Ha, String> {
        let identity = self.identity.unwrap_or_else(default_identity);
        let shard = shard::resolve(self.shard, self.total_shards, &identity).map_err(|e| e.to_string())?;
        if !self.leader_election {
            return Ok(Ha {
                identity,
                shard,
                election: None,
            });
        }
        let timing = Timing {
            lease_duration: Duration::from_secs(self.lease_duration_seconds),
            renew_deadline: Duration::from_secs(self.renew_deadline_seconds),
            retry_period: Duration::from_secs(self.retry_period_seconds),
        }
        .validated()
        .map_err(|e| e.to_string())?;
        let lease_namespace = self
            .lease_namespace
            .or_else(|| namespace.map(str::to_owned))
            .or_else(|| {
                std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "default".to_owned());
        let election = Election::new(lease_namespace, &self.lease_name, shard, identity.clone(), timing);
        Ok(Ha {
            identity,
            shard,
            election: Some(election),
        })
    }
}

/// `<host name>-<process id>`: unique among replicas on one host and across hosts.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "nodehealth".to_owned());
    format!("{host}-{}", std::process::id())
}
