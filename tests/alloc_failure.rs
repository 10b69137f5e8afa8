//! ShardMap construction when the allocator refuses: an error from the
//! builder, a dropped capacity hint from `with_capacity`, never a panic or
//! an abort. A global allocator that fails large allocations on demand; one
//! test in this binary, so no other test's allocations count.
#![cfg(not(miri))]

use epochmap::shard_map::BuildError;
use epochmap::ShardMap;
use epochmap_testkit::alloc::{with_large_allocations, KitAlloc};

#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

/// Every shard's table needs one large allocation (2 MiB for 100,000
/// `(u64, u64)` entries), so allowing `n` of them makes shard `n` the first
/// to fail. `with_capacity` panicked through `unreachable!` when the first
/// shard's allocation succeeded and a later one failed.
#[test]
fn a_later_shard_failing_to_allocate_is_no_panic() {
    // The default hook may capture a backtrace, whose large allocations
    // would be refused while a panic is reported: print only the message.
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    let shards = ShardMap::<u64, u64>::new().shard_count();
    assert!(shards >= 4);
    let capacity = shards * 100_000;
    for allowed in 0..4 {
        let m: ShardMap<u64, u64> =
            with_large_allocations(allowed, || ShardMap::with_capacity(capacity));
        // The hint was dropped; the map works.
        assert_eq!(m.shard_count(), shards);
        assert!(m.capacity() < capacity, "allowed {allowed}");
        for k in 0..1000 {
            m.insert(k, k);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get_cloned(&999), Some(999));

        let e = with_large_allocations(allowed, || {
            ShardMap::<u64, u64>::builder()
                .shards(shards)
                .capacity(capacity)
                .build()
                .unwrap_err()
        });
        assert_eq!(
            e,
            BuildError::AllocationFailed {
                requested: capacity
            }
        );
    }
    // Absurd capacities: an error from the builder, a dropped hint from
    // `with_capacity`, with any shard count.
    for capacity in [usize::MAX, usize::MAX / 2, 1 << 60, 1 << 50] {
        for shards in [
            1,
            64,
            ShardMap::<u64, u64>::builder()
                .build()
                .unwrap()
                .shard_count(),
        ] {
            let e = ShardMap::<u64, u64>::builder()
                .shards(shards)
                .capacity(capacity)
                .build()
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    BuildError::AllocationFailed { .. } | BuildError::CapacityOverflow { .. }
                ),
                "{e}"
            );
        }
        let m: ShardMap<u64, u64> = ShardMap::with_capacity(capacity);
        m.insert(1, 1);
        assert_eq!(m.len(), 1);
    }
    // With the allocator willing, the capacity is reserved.
    let m: ShardMap<u64, u64> = ShardMap::with_capacity(capacity);
    assert!(m.capacity() >= capacity);
}
