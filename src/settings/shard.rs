//! Sharding: which accounts of a file this process collects, as kube-state-metrics shards its
//! objects. Nothing else in the exporter knows about it.

use std::fmt;

/// Which accounts of a file this process collects: those whose stable hash of the name modulo
/// `total` is `index`, as kube-state-metrics shards its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// `--shard`.
    pub index: u32,
    /// `--total-shards`.
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, total: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {}", self.index, self.total)
    }
}

impl Shard {
    /// Whether this shard collects the account called `name`.
    pub fn owns(self, name: &str) -> bool {
        self.total <= 1 || shard_of(name, self.total) == self.index
    }
}

/// The shard an account belongs to among `total`: FNV-1a (64 bits) of the name, modulo
/// `total`. Stable across processes, versions and platforms, so every replica agrees.
pub fn shard_of(name: &str, total: u32) -> u32 {
    let total = u64::from(total.max(1));
    u32::try_from(stable_hash(name) % total).unwrap_or(0)
}

/// FNV-1a, 64 bits: tiny, stable, and well spread for short strings.
pub(crate) fn stable_hash(text: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_accounts() {
        let names: Vec<String> = (0..300).map(|i| format!("client-{i}")).collect();
        for total in [1, 2, 3, 7] {
            let mut counts = vec![0; total as usize];
            for name in &names {
                let owners: Vec<u32> = (0..total)
                    .filter(|&index| Shard { index, total }.owns(name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} in {total}");
                counts[owners[0] as usize] += 1;
            }
            // Spread: no shard has less than half its fair share.
            assert!(
                counts
                    .iter()
                    .all(|&c| c * total as usize * 2 >= names.len()),
                "{counts:?}"
            );
        }
        // Stable: the same answer as any other process computes.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
