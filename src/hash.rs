//! The two hashes that must give the same answer in every build and process:
//! FNV-1a (execution-id fingerprints, state file names, `--shard`, scheduling
//! offsets) and the jump consistent hash `--shard` assigns names with.

/// FNV-1a, 64 bits: the same in every build and process, unlike the standard
/// library's randomly seeded hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in bytes {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The bucket in `0..buckets` of `key` (Lamping and Veach, "A Fast, Minimal
/// Memory, Consistent Hash Algorithm", 2014). `buckets` > 0. Going from N to
/// N+1 buckets moves about 1/(N+1) of the keys, where `key mod N` would move
/// almost all of them.
pub(crate) fn jump_consistent_hash(mut key: u64, buckets: u64) -> u64 {
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn jump_hash_stays_in_range_and_moves_to_the_new_bucket() {
        for key in (0..1_000_u64).map(|k| fnv1a(&k.to_le_bytes())) {
            let (three, four) = (jump_consistent_hash(key, 3), jump_consistent_hash(key, 4));
            assert!(three < 3 && four < 4);
            assert!(three == four || four == 3, "{key}: {three} -> {four}");
        }
        assert_eq!(jump_consistent_hash(42, 1), 0);
    }
}
