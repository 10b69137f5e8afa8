//! `TestMap` for `ShardMap`: its configurations (the operations are the test
//! kit's `ConcurrentMap` impl; `entries` is the default, by `iter()`).

use std::hash::Hash;

use epochmap::ShardMap;

use super::TestMap;

impl<K, V> TestMap<K, V> for ShardMap<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn configs() -> Vec<(&'static str, fn() -> Self)> {
        vec![
            ("one shard", || {
                ShardMap::builder().shards(1).build().unwrap()
            }),
            ("default", ShardMap::new),
            ("many shards", || {
                ShardMap::builder()
                    .shards(64)
                    .reader_slots(4)
                    .build()
                    .unwrap()
            }),
            ("tiny capacity", || {
                ShardMap::builder()
                    .shards(2)
                    .capacity(1)
                    .reader_slots(1)
                    .build()
                    .unwrap()
            }),
        ]
    }
}
