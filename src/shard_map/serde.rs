//! Serde support (feature `serde`): a `ShardMap` serializes as a map.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::ops::ControlFlow;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ShardMap;

impl<K: Serialize, V: Serialize, S> Serialize for ShardMap<K, V, S> {
    /// Serializes the entries as a map of unknown length (formats that need
    /// the length up front cannot serialize it). A traversal, not a
    /// snapshot (see "Consistency" on [`ShardMap`]): an entry present during
    /// the whole serialization is written once; one written meanwhile may or
    /// may not be. For a snapshot, serialize a clone made while no one
    /// writes.
    ///
    /// **Locking behaviour:** read-locks one shard at a time, for at most
    /// about a thousand entries (serializing them under the lock).
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        // No length up front: the shards are visited one chunk at a time
        // while others may write, so a count taken before could be wrong.
        let mut map = serializer.serialize_map(None)?;
        if let ControlFlow::Break(e) = super::iter::visit(&self.shards, "serialize", |k, v| {
            match map.serialize_entry(k, v) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }) {
            return Err(e);
        }
        map.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for ShardMap<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    /// Deserializes from a map; a repeated key keeps the last value.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Makes the visitor `Send`/`Sync` regardless of `K`, `V`, `S`.
        type Marker<K, V, S> = PhantomData<fn() -> (K, V, S)>;
        struct MapVisitor<K, V, S>(Marker<K, V, S>);

        impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
        where
            K: Deserialize<'de> + Hash + Eq,
            V: Deserialize<'de>,
            S: BuildHasher + Default,
        {
            type Value = ShardMap<K, V, S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                // Trust the size hint only so far: it comes from the input.
                let cap = access.size_hint().unwrap_or(0).min(1 << 16);
                let mut map = ShardMap::with_capacity_and_hasher(cap, S::default());
                while let Some((k, v)) = access.next_entry()? {
                    map.extend(std::iter::once((k, v)));
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
