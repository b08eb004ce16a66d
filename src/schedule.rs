//! When each pod is probed, and what its probes concluded: the probe schedule of every
//! `NodeHealth`, with each pod's history and latest verdict. Pure bookkeeping: times are
//! arguments, the probing is the shell's (`controller::prober`).
//!
//! Guarantees:
//! - a pod is probed once per period, on its own phase of the period (from its UID), so a
//!   fleet's probes spread evenly over the period and no event (a status write, another pod's
//!   change, a reconcile) ever adds a probe;
//! - a new pod is probed at once, then joins its phase;
//! - a late probe does not pile up: the next one is due a period after it was due, or on the
//!   first phase time after it started if it ran more than a period late.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::assess::{History, Params, assess};
use crate::chains::{Profile, ReadOptions};
use crate::model::{Observation, PodVerdict, Scrape, Target};

/// How a NodeHealth's pods are probed and judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub profile: Profile,
    /// What the chain's reader is told beyond the profile (`spec.chain`).
    pub read: ReadOptions,
    pub params: Params,
    /// Seconds between two probes of a pod.
    pub period: f64,
    /// Seconds a probe may take.
    pub timeout: f64,
}

/// A pod to probe: its UID (a recreated pod is a new instance, with a fresh history), name and
/// where to probe it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTarget {
    pub uid: String,
    pub name: String,
    pub target: Target,
}

/// A probe to carry out now.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub key: String,
    pub uid: String,
    pub target: Target,
    pub timeout: f64,
    /// When it was due.
    pub due: f64,
    /// Whether this pod's connections are kept alive between probes (see [`Schedule::new`]).
    pub pooled: bool,
    /// The pod's chain, which reads what the probe brings back.
    pub profile: Profile,
    /// What the policy tells the chain's reader.
    pub read: ReadOptions,
    version: u64,
}

impl Job {
    /// What the probe's scrape says, read by the pod's chain; `None` when the probe failed for
    /// the operator's own reasons (it says nothing of the pod). Pure, and the CPU-heavy part of
    /// a probe, so the shell may run it wherever suits it.
    pub fn read(&self, scrape: &Scrape) -> Option<Observation> {
        (!scrape.operator_failed()).then(|| self.profile.read(scrape, &self.read))
    }
}

/// What a completed probe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The pod is gone or was re-registered meanwhile: the probe is dropped.
    Stale,
    /// Figures only: the next status refresh will show them.
    Figures,
    /// A verdict (status, sync state, network, verification) changed, or the pod's first: the
    /// NodeHealth should be reconciled now.
    Verdict,
}

#[derive(Debug)]
struct Pod {
    name: String,
    target: Target,
    phase: f64,
    due: f64,
    /// Bumped at every (re)scheduling, so queue entries of an older schedule are skipped.
    version: u64,
    pooled: bool,
    history: History,
    verdict: Option<PodVerdict>,
}

#[derive(Debug)]
struct Policy {
    plan: Plan,
    pods: HashMap<String, Pod>,
}

/// A queue entry: `due` as integer microseconds so entries order totally.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at_us: i64,
    key: String,
    uid: String,
    version: u64,
}

/// The probe schedule of every NodeHealth.
#[derive(Debug)]
pub struct Schedule {
    policies: HashMap<String, Policy>,
    queue: BinaryHeap<Reverse<Due>>,
    next_version: u64,
    /// Pods whose connections may be kept alive, all NodeHealths together.
    pooled_budget: usize,
    pooled: usize,
}

impl Schedule {
    /// An empty schedule. `pooled_budget`: how many pods may keep their connections alive
    /// between probes (each holds one per API); the others connect afresh at every probe. It is
    /// the share of the operator's open-files budget left for idle connections.
    pub fn new(pooled_budget: usize) -> Schedule {
        Schedule {
            policies: HashMap::new(),
            queue: BinaryHeap::new(),
            next_version: 0,
            pooled_budget,
            pooled: 0,
        }
    }

    /// Sets a NodeHealth's plan and the pods it probes (every other pod of it is dropped).
    /// New pods are due at once; a changed period re-phases every pod. Returns whether some
    /// probe became due earlier than the schedule's next wake-up (the shell wakes up then).
    pub fn register(&mut self, key: &str, plan: Plan, pods: Vec<PodTarget>, now: f64) -> bool {
        let before = self.next_wake();
        let policy = self.policies.entry(key.to_owned()).or_insert_with(|| Policy {
            plan: plan.clone(),
            pods: HashMap::new(),
        });
        let rephase = policy.plan.period != plan.period;
        policy.plan = plan;
        let period = policy.plan.period;
        let mut keep: HashMap<String, Pod> = HashMap::with_capacity(pods.len());
        let mut new = Vec::new();
        for PodTarget { uid, name, target } in pods {
            match policy.pods.remove(&uid) {
                Some(mut pod) => {
                    (pod.name, pod.target) = (name, target);
                    if rephase {
                        pod.phase = phase(&uid, period);
                        new.push((uid.clone(), next_due(now, period, pod.phase)));
                    }
                    keep.insert(uid, pod);
                }
                None => {
                    let pod = Pod {
                        name,
                        target,
                        phase: phase(&uid, period),
                        due: now,
                        version: 0,
                        pooled: false,
                        history: History::new(),
                        verdict: None,
                    };
                    new.push((uid.clone(), now));
                    keep.insert(uid, pod);
                }
            }
        }
        let dropped = policy.pods.values().filter(|p| p.pooled).count();
        policy.pods = keep;
        self.pooled -= dropped;
        for (uid, due) in new {
            self.schedule(key, &uid, due);
        }
        self.assign_pooled(key);
        self.next_wake().is_some_and(|w| before.is_none_or(|b| w < b))
    }

    /// Drops the NodeHealths `keep` refuses (they are gone).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self.policies.keys().filter(|k| !keep(k)).cloned().collect();
        for k in gone {
            if let Some(p) = self.policies.remove(&k) {
                self.pooled -= p.pods.values().filter(|p| p.pooled).count();
            }
        }
    }

    /// The latest verdict of each pod of a NodeHealth, by UID (pods not probed yet are absent).
    pub fn verdicts(&self, key: &str) -> HashMap<String, PodVerdict> {
        self.policies.get(key).map_or_else(HashMap::new, |p| {
            p.pods
                .iter()
                .filter_map(|(uid, pod)| Some((uid.clone(), pod.verdict.clone()?)))
                .collect()
        })
    }

    /// Pods on the schedule, all NodeHealths together.
    pub fn len(&self) -> usize {
        self.policies.values().map(|p| p.pods.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the earliest probe is due (Unix seconds).
    pub fn next_wake(&self) -> Option<f64> {
        self.queue.peek().map(|Reverse(d)| d.at_us as f64 / 1e6)
    }

    /// Takes every probe due at `now`. A taken probe is off the queue until [`Schedule::complete`].
    pub fn pop_due(&mut self, now: f64) -> Vec<Job> {
        let mut jobs = Vec::new();
        while let Some(Reverse(d)) = self.queue.peek() {
            if d.at_us as f64 / 1e6 > now {
                break;
            }
            let Some(Reverse(d)) = self.queue.pop() else { break };
            let Some(policy) = self.policies.get(&d.key) else {
                continue;
            };
            let Some(pod) = policy.pods.get(&d.uid).filter(|p| p.version == d.version) else {
                continue;
            };
            jobs.push(Job {
                key: d.key.clone(),
                uid: d.uid.clone(),
                target: pod.target.clone(),
                timeout: policy.plan.timeout,
                due: pod.due,
                pooled: pod.pooled,
                profile: policy.plan.profile,
                read: policy.plan.read.clone(),
                version: pod.version,
            });
        }
        jobs
    }

    /// Records a probe that ran from `started` on: the pod's chain reads it, its history judges
    /// it, and its next probe is scheduled.
    pub fn complete(&mut self, job: &Job, scrape: &Scrape, started: f64) -> Change {
        self.record(job, job.read(scrape), started)
    }

    /// As [`Schedule::complete`], with the scrape already read ([`Job::read`]).
    pub fn record(&mut self, job: &Job, observation: Option<Observation>, started: f64) -> Change {
        let Some(policy) = self.policies.get_mut(&job.key) else {
            return Change::Stale;
        };
        let Some(pod) = policy.pods.get_mut(&job.uid).filter(|p| p.version == job.version) else {
            return Change::Stale;
        };
        let change = if let Some(observation) = observation {
            let verdict = assess(&mut pod.history, &observation, &policy.plan.params);
            let change = match &pod.verdict {
                Some(old) if same_verdict(old, &verdict) => Change::Figures,
                _ => Change::Verdict,
            };
            pod.verdict = Some(verdict);
            change
        } else {
            // Says nothing of the pod: its verdict stands, and it is probed again next period.
            Change::Figures
        };
        let period = policy.plan.period;
        // A period after it was due; if it ran so late that this is past, the first phase time
        // after it started (probes never pile up to catch up).
        let next = match next_due(job.due, period, pod.phase) {
            n if n <= started => next_due(started, period, pod.phase),
            n => n,
        };
        self.schedule(&job.key, &job.uid, next);
        change
    }

    /// Puts a pod on the queue at `due`, replacing its earlier entry.
    fn schedule(&mut self, key: &str, uid: &str, due: f64) {
        let Some(pod) = self.policies.get_mut(key).and_then(|p| p.pods.get_mut(uid)) else {
            return;
        };
        self.next_version += 1;
        pod.version = self.next_version;
        pod.due = due;
        self.queue.push(Reverse(Due {
            at_us: (due * 1e6) as i64,
            key: key.to_owned(),
            uid: uid.to_owned(),
            version: pod.version,
        }));
    }

    /// Gives a kept-alive connection to pods that have none while the budget lasts.
    fn assign_pooled(&mut self, key: &str) {
        let Some(policy) = self.policies.get_mut(key) else {
            return;
        };
        for pod in policy.pods.values_mut() {
            if self.pooled >= self.pooled_budget {
                break;
            }
            if !pod.pooled {
                pod.pooled = true;
                self.pooled += 1;
            }
        }
    }
}

/// Whether two verdicts say the same of a pod (figures aside).
fn same_verdict(a: &PodVerdict, b: &PodVerdict) -> bool {
    (a.status, a.healthy, a.sync_state, a.network, a.verified)
        == (b.status, b.healthy, b.sync_state, b.network, b.verified)
}

/// Pods are probed in ticks of this many seconds: one wake-up of the probe loop starts every
/// probe of a tick, so the runtime serves their sockets together. Probes spread one by one cost
/// a thread wake-up each: five times the CPU per probe (`scripts/bench-scale.sh 1000`: 0.77 ms
/// per validator per period against 0.15 ms for the old all-at-once sweep).
pub const TICK_SECONDS: f64 = 1.0;

/// A pod's phase in the period, in seconds: where in each period it is probed. From its UID
/// (FNV-1a: stable across runs and replicas, unlike the standard library's seeded hasher), on
/// one of the period's ticks.
pub fn phase(uid: &str, period: f64) -> f64 {
    let hash = crate::shard::fnv1a64(uid.as_bytes());
    let ticks = (period / TICK_SECONDS).floor().max(1.0);
    (hash % ticks as u64) as f64 * (period / ticks)
}

/// The first time after `after` that falls on `phase` of a `period`-second cycle.
pub fn next_due(after: f64, period: f64, phase: f64) -> f64 {
    let cycle = ((after - phase) / period).floor() + 1.0;
    phase + cycle * period
}

#[cfg(test)]
mod tests;
