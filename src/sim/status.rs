//! The simulator's own status words, as the two node kinds write them on the wire.
//!
//! Deliberately not the operator's types (`crate::model`, `crate::chains::*`): the simulator
//! writes what the node documents say, and the operator's readers are tested against that. Were
//! both sides built from one type, a misread format would be wrong on both sides and every test
//! would stay green.

/// The word a Radix node puts in `/system/health`'s `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// Synced: its ledger is close to its clock.
    Up,
    /// Behind, but catching up (or behind with a high last progress rate).
    Syncing,
    /// Behind and not catching up.
    OutOfSync,
    /// The process runs but the ledger has not started.
    BootingPreGenesis,
}

impl NodeStatus {
    /// The wire word (babylon-node's `SystemHealth` status values).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Up => "UP",
            NodeStatus::Syncing => "SYNCING",
            NodeStatus::OutOfSync => "OUT_OF_SYNC",
            NodeStatus::BootingPreGenesis => "BOOTING_PRE_GENESIS",
        }
    }
}

/// A zksync component's (or application's) health status, best first.
///
/// The words and the order are zksync-era's `HealthStatus` (`core/lib/health_check`): the
/// application's status is "computed as the worst of component statuses", so the derived `Ord`
/// (declaration order) is the aggregation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ComponentStatus {
    Ready,
    Affected,
    ShuttingDown,
    ShutDown,
    NotReady,
    Panicked,
}

impl ComponentStatus {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Ready => "ready",
            ComponentStatus::Affected => "affected",
            ComponentStatus::ShuttingDown => "shutting_down",
            ComponentStatus::ShutDown => "shut_down",
            ComponentStatus::NotReady => "not_ready",
            ComponentStatus::Panicked => "panicked",
        }
    }

    /// `ready` and `affected` still serve: the health endpoint answers 20x for them, 50x otherwise.
    pub fn http_code(self) -> u16 {
        match self {
            ComponentStatus::Ready | ComponentStatus::Affected => 200,
            _ => 503,
        }
    }

    /// The worst of some statuses; `ready` when there are none (an application without
    /// components has nothing wrong with it).
    pub fn worst(statuses: impl IntoIterator<Item = ComponentStatus>) -> ComponentStatus {
        statuses.into_iter().max().unwrap_or(ComponentStatus::Ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_of_components() {
        use ComponentStatus::*;
        assert_eq!(ComponentStatus::worst([]), Ready);
        assert_eq!(ComponentStatus::worst([Ready, Affected, Ready]), Affected);
        assert_eq!(ComponentStatus::worst([Affected, NotReady, ShutDown]), NotReady);
        assert_eq!(ComponentStatus::worst([Panicked, NotReady]), Panicked);
        assert_eq!((Affected.http_code(), NotReady.http_code()), (200, 503));
    }

    #[test]
    fn wire_words() {
        assert_eq!(NodeStatus::OutOfSync.as_str(), "OUT_OF_SYNC");
        assert_eq!(NodeStatus::BootingPreGenesis.as_str(), "BOOTING_PRE_GENESIS");
        assert_eq!(ComponentStatus::NotReady.as_str(), "not_ready");
        assert_eq!(ComponentStatus::ShuttingDown.as_str(), "shutting_down");
    }
}
