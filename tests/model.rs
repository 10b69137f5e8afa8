//! Random operation sequences checked against `std::collections::HashMap`,
//! with values that count their drops. To add a map, add one `model_suite!`
//! line at the bottom.

mod common;

use std::collections::HashMap;

use common::{DropCounter, TestMap, Tracked};
use proptest::prelude::*;

#[derive(Debug, Clone)]
pub enum Op {
    Insert(u64, u64),
    Remove(u64),
    Get(u64),
    Contains(u64),
    Update(u64, u64),
    GetOrInsert(u64, u64),
    Retain(u64),
    Clear,
    Entries,
}

pub fn op() -> impl Strategy<Value = Op> {
    let k = 0u64..48;
    prop_oneof![
        6 => (k.clone(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => k.clone().prop_map(Op::Remove),
        2 => k.clone().prop_map(Op::Get),
        1 => k.clone().prop_map(Op::Contains),
        2 => (k.clone(), 0u64..100).prop_map(|(k, d)| Op::Update(k, d)),
        2 => (k, any::<u64>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
        1 => (1u64..5).prop_map(Op::Retain),
        1 => Just(Op::Clear),
        1 => Just(Op::Entries),
    ]
}

/// Runs `ops` on a fresh map from `make` and on a model. With
/// `exact_drops`, the number of live values must equal the entries held by
/// both after every step (maps with deferred reclamation pass `false` and
/// are checked only after drop).
pub fn check<M: TestMap<u64, Tracked>>(
    make: fn() -> M,
    ops: &[Op],
    exact_drops: bool,
) -> Result<(), TestCaseError> {
    let c = DropCounter::new();
    let m = make();
    let mut model: HashMap<u64, Tracked> = HashMap::new();
    for op in ops {
        match op.clone() {
            Op::Insert(k, v) => {
                let had = model.insert(k, c.track(v)).is_some();
                prop_assert_eq!(m.insert(k, c.track(v)), had);
            }
            Op::Remove(k) => prop_assert_eq!(m.remove(&k), model.remove(&k).is_some()),
            Op::Get(k) => prop_assert_eq!(
                m.get_cloned(&k).map(|v| v.payload),
                model.get(&k).map(|v| v.payload)
            ),
            Op::Contains(k) => prop_assert_eq!(m.contains_key(&k), model.contains_key(&k)),
            Op::Update(k, d) => {
                let want = match model.get_mut(&k) {
                    Some(v) => {
                        *v = c.track(v.payload.wrapping_add(d));
                        true
                    }
                    None => false,
                };
                prop_assert_eq!(m.update(&k, |v| c.track(v.payload.wrapping_add(d))), want);
            }
            Op::GetOrInsert(k, v) => {
                let want = model.entry(k).or_insert_with(|| c.track(v)).payload;
                prop_assert_eq!(m.get_or_insert_with(k, || c.track(v)).payload, want);
            }
            Op::Retain(r) => {
                model.retain(|k, v| (k + v.payload) % r != 0);
                m.retain(|k, v| (k + v.payload) % r != 0);
            }
            Op::Clear => {
                model.clear();
                m.clear();
            }
            Op::Entries => {
                let mut got: Vec<_> = m
                    .entries()
                    .into_iter()
                    .map(|(k, v)| (k, v.payload))
                    .collect();
                got.sort_unstable();
                let mut want: Vec<_> = model.iter().map(|(k, v)| (*k, v.payload)).collect();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
        }
        prop_assert_eq!(m.len(), model.len());
        prop_assert_eq!(m.is_empty(), model.is_empty());
        if exact_drops {
            prop_assert_eq!(
                c.live() as usize,
                2 * model.len(),
                "a value leaked or was dropped early"
            );
        }
    }
    drop(m);
    drop(model);
    prop_assert_eq!(M::live_after_reclaim(&c, 0), 0, "values leaked after drop");
    Ok(())
}

fn cases() -> u32 {
    if cfg!(miri) {
        4
    } else {
        96
    }
}

/// Instantiates the model test for one map type.
#[macro_export]
macro_rules! model_suite {
    ($name:ident, $map:ty, exact_drops = $exact:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases()))]
            #[test]
            fn $name(ops in proptest::collection::vec(op(), 1..160)) {
                for (config, make) in <$map as TestMap<u64, Tracked>>::configs() {
                    let r = check::<$map>(make, &ops, $exact);
                    if r.is_err() {
                        eprintln!("config: {config}");
                    }
                    r?;
                }
            }
        }
    };
}

model_suite!(shard_map_matches_std, epochmap::ShardMap<u64, Tracked>, exact_drops = true);
model_suite!(
    atomic_map_matches_std,
    epochmap::AtomicPtrMap<u64, Tracked>,
    exact_drops = false
);
