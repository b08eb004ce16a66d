//! Which shard handles a `NodeHealth`: a stable hash of its UID, as kube-state-metrics shards
//! its objects (its code: FNV-64a of the UID, then jump consistent hash).
//!
//! Jump hash keeps every object where it was when shards are added, except the ~1/n that move
//! to the new shard, and needs no table: every replica computes the same answer alone.

use std::fmt;

/// This replica's shard among `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl Shard {
    /// The only shard of an unsharded operator.
    pub const ALL: Shard = Shard { index: 0, total: 1 };

    /// Whether this shard handles the object with this UID.
    pub fn owns(&self, uid: &str) -> bool {
        shard_of(uid, self.total) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Where `--shard` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardChoice {
    /// Given as a number.
    Index(u32),
    /// The trailing `-N` of the replica's name (a StatefulSet ordinal), modulo the total.
    Ordinal,
}

impl std::str::FromStr for ShardChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "ordinal" {
            return Ok(ShardChoice::Ordinal);
        }
        s.parse()
            .map(ShardChoice::Index)
            .map_err(|_| format!("{s:?} is neither a shard number nor `ordinal`"))
    }
}

/// Why a shard cannot be worked out from the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--total-shards must be at least 1")]
    NoShards,
    #[error("--shard {index} is not below --total-shards {total}")]
    OutOfRange { index: u32, total: u32 },
    #[error("--shard ordinal: the identity {0:?} does not end in -<number> (a StatefulSet pod's name does)")]
    NoOrdinal(String),
}

/// This replica's shard, from `--shard`, `--total-shards` and its identity (pod name).
pub fn resolve(choice: ShardChoice, total: u32, identity: &str) -> Result<Shard, ShardError> {
    if total == 0 {
        return Err(ShardError::NoShards);
    }
    let index = match choice {
        ShardChoice::Index(index) if index < total => index,
        ShardChoice::Index(index) => return Err(ShardError::OutOfRange { index, total }),
        ShardChoice::Ordinal => {
            let ordinal: u32 = identity
                .rsplit_once('-')
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| ShardError::NoOrdinal(identity.to_owned()))?;
            // A StatefulSet of shards × replicas pods: each shard gets `replicas` candidates.
            ordinal % total
        }
    };
    Ok(Shard { index, total })
}

/// The shard of the object with this UID among `total` (at least 1).
pub fn shard_of(uid: &str, total: u32) -> u32 {
    jump_hash(fnv1a64(uid.as_bytes()), total)
}

/// FNV-1a, 64 bits (the FNV specification's offset basis and prime): stable across runs,
/// replicas and platforms, unlike the standard library's seeded hasher.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Jump consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash
/// Algorithm", 2014, the paper's code): a bucket in `0..buckets` (0 when `buckets` is 0).
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // b < buckets ≤ u32::MAX, or -1 with no buckets.
    u32::try_from(b).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_hash_gives_the_papers_buckets() {
        // The vectors the Go and Rust ports test against.
        assert_eq!(jump_hash(1, 1), 0);
        assert_eq!(jump_hash(42, 57), 43);
        assert_eq!(jump_hash(0xDEAD_10CC, 1), 0);
        assert_eq!(jump_hash(0xDEAD_10CC, 666), 361);
        assert_eq!(jump_hash(256, 1024), 520);
        assert_eq!(jump_hash(7, 0), 0);
    }

    #[test]
    fn fnv1a64_matches_the_specifications_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    fn uids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("5f0c{i:04x}-8e1b-4d6a-9c3e-{:012x}", i * 7919))
            .collect()
    }

    #[test]
    fn shards_are_balanced_and_adding_one_moves_objects_only_to_it() {
        let uids = uids(10_000);
        let mut counts = [0u32; 4];
        for u in &uids {
            counts[shard_of(u, 4) as usize] += 1;
        }
        for c in counts {
            assert!((2_200..=2_800).contains(&c), "{counts:?}");
        }
        let moved: Vec<_> = uids.iter().filter(|u| shard_of(u, 4) != shard_of(u, 5)).collect();
        assert!(moved.iter().all(|u| shard_of(u, 5) == 4), "moved only to the new shard");
        assert!((1_700..=2_300).contains(&moved.len()), "~1/5 moved: {}", moved.len());
    }

    #[test]
    fn exactly_one_shard_owns_each_object() {
        for u in uids(500) {
            let owners = (0..3).filter(|i| Shard { index: *i, total: 3 }.owns(&u)).count();
            assert_eq!(owners, 1);
        }
        assert!(uids(50).iter().all(|u| Shard::ALL.owns(u)));
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_the_statefulset_ordinal() {
        let sh = |index, total| Ok(Shard { index, total });
        assert_eq!(resolve(ShardChoice::Index(1), 2, "x"), sh(1, 2));
        assert_eq!(
            resolve(ShardChoice::Index(2), 2, "x"),
            Err(ShardError::OutOfRange { index: 2, total: 2 })
        );
        assert_eq!(resolve(ShardChoice::Index(0), 0, "x"), Err(ShardError::NoShards));
        assert_eq!(resolve(ShardChoice::Ordinal, 2, "nodehealth-3"), sh(1, 2));
        assert_eq!(resolve(ShardChoice::Ordinal, 2, "nodehealth-4"), sh(0, 2));
        assert!(matches!(
            resolve(ShardChoice::Ordinal, 2, "nodehealth-abc"),
            Err(ShardError::NoOrdinal(_))
        ));
        assert_eq!("ordinal".parse(), Ok(ShardChoice::Ordinal));
        assert_eq!("3".parse(), Ok(ShardChoice::Index(3)));
        assert!("x".parse::<ShardChoice>().is_err());
    }
}
