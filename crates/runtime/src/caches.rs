//! The caches of one machine's runtime — the pull cache of blobs and the store of unpacked
//! layers — each bounded by a size. What goes when one is over its size is decided here, purely
//! ([`evict`]: least recently used first, never a layer an environment uses); the stores remove
//! it.

use serde::Serialize;

/// How much each cache may hold, in bytes (a layer counts the logical size of its files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub pull_cache_bytes: u64,
    pub layer_bytes: u64,
}

impl Default for CacheLimits {
    /// 10 GiB of pulled blobs (only needed to unpack a layer again), 50 GiB of unpacked layers.
    fn default() -> Self {
        Self {
            pull_cache_bytes: 10 << 30,
            layer_bytes: 50 << 30,
        }
    }
}

/// One thing in a cache: how big, when it was last used (Unix seconds), and whether an
/// environment uses it (which keeps it, though it still counts towards the size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached<K> {
    pub key: K,
    pub bytes: u64,
    pub last_used: i64,
    pub in_use: bool,
}

/// What to remove so that `entries` hold at most `limit`: the least recently used first,
/// skipping those in use. When what is in use alone is over the limit, everything else goes
/// and the cache stays over it.
pub fn evict<K: Clone>(entries: &[Cached<K>], limit: u64) -> Vec<K> {
    let mut held: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut oldest_first: Vec<&Cached<K>> = entries.iter().filter(|e| !e.in_use).collect();
    oldest_first.sort_by_key(|e| e.last_used);
    let mut gone = Vec::new();
    for entry in oldest_first {
        if held <= limit {
            break;
        }
        held -= entry.bytes;
        gone.push(entry.key.clone());
    }
    gone
}

/// What a collection of one machine's caches removed (or, on a dry run, would remove now), and
/// what they hold after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    pub blobs_removed: u64,
    pub blob_bytes_freed: u64,
    pub layers_removed: u64,
    pub layer_bytes_freed: u64,
    /// Layers kept because an environment uses them.
    pub layers_in_use: u64,
    pub blob_bytes_held: u64,
    pub layer_bytes_held: u64,
}

#[cfg(test)]
mod tests {
    use super::{Cached, evict};

    fn entry(key: &'static str, bytes: u64, last_used: i64, in_use: bool) -> Cached<&'static str> {
        Cached {
            key,
            bytes,
            last_used,
            in_use,
        }
    }

    #[test]
    fn the_least_recently_used_go_first_until_the_cache_fits_and_what_is_in_use_stays() {
        let a = entry("a", 40, 100, false);
        let b = entry("b", 30, 50, false);
        let c = entry("c", 20, 10, true);
        let d = entry("d", 10, 70, false);
        let all = [a.clone(), b.clone(), c.clone(), d.clone()];
        for (entries, limit, gone, why) in [
            (&all[..], 100, vec![], "it fits"),
            (&all[..], 99, vec!["b"], "b is the oldest not in use"),
            (&all[..], 70, vec!["b"], "one is enough"),
            (&all[..], 69, vec!["b", "d"], "then d, used before a"),
            (&all[..], 59, vec!["b", "d", "a"], "then a"),
            (&all[..], 20, vec!["b", "d", "a"], "down to what is in use"),
            (
                &all[..],
                0,
                vec!["b", "d", "a"],
                "what is in use stays, over the limit",
            ),
            (&[][..], 0, vec![], "nothing"),
        ] {
            assert_eq!(evict(entries, limit), gone, "{why}");
        }
    }
}
