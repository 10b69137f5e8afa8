//! `TestMap` for `ShardMap`, in several configurations.

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
    fn insert(&self, k: K, v: V) -> bool {
        ShardMap::insert(self, k, v).is_some()
    }
    fn remove(&self, k: &K) -> bool {
        ShardMap::remove(self, k).is_some()
    }
    fn get_cloned(&self, k: &K) -> Option<V> {
        ShardMap::get_cloned(self, k)
    }
    fn contains_key(&self, k: &K) -> bool {
        ShardMap::contains_key(self, k)
    }
    fn len(&self) -> usize {
        ShardMap::len(self)
    }
    fn is_empty(&self) -> bool {
        ShardMap::is_empty(self)
    }
    fn clear(&self) {
        ShardMap::clear(self)
    }
    fn retain(&self, mut f: impl FnMut(&K, &V) -> bool) {
        ShardMap::retain(self, |k, v| f(k, v))
    }
    fn update(&self, k: &K, f: impl Fn(&V) -> V) -> bool {
        ShardMap::update(self, k, |v| *v = f(v)).is_some()
    }
    fn get_or_insert_with(&self, k: K, f: impl FnOnce() -> V) -> V {
        ShardMap::get_or_insert_with(self, k, f)
    }
    fn entries(&self) -> Vec<(K, V)> {
        self.iter()
            .map(|r| (r.key().clone(), r.value().clone()))
            .collect()
    }
}
