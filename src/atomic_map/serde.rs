//! Serde support for [`AtomicPtrMap`] (feature `serde`): serialised as a map
//! (weakly consistent if written to concurrently).

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AtomicPtrMap;

impl<K, V, S> Serialize for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Serialize,
    V: Send + 'static + Serialize,
    S: BuildHasher,
{
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        let pinned = self.pin();
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in pinned.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Marks the types a visitor builds, without owning any.
type Marker<K, V, S> = PhantomData<fn() -> (K, V, S)>;

struct MapVisitor<K, V, S>(Marker<K, V, S>);

impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
where
    K: Hash + Eq + Send + 'static + Deserialize<'de>,
    V: Send + 'static + Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = AtomicPtrMap<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let map = AtomicPtrMap::with_hasher(S::default());
        while let Some((k, v)) = access.next_entry()? {
            map.insert(k, v);
        }
        Ok(map)
    }
}

impl<'de, K, V, S> Deserialize<'de> for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Deserialize<'de>,
    V: Send + 'static + Deserialize<'de>,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
