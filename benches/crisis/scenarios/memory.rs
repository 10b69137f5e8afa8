//! C8: bytes per entry of u64 -> u64 maps, from the counting allocator.
//!
//! Each map starts empty (no capacity hint) and grows to the entry count on
//! one thread, as a user's map would. "Live" is what the map holds after the
//! last insert (including garbage that an epoch scheme has not freed yet);
//! "peak" is the most it held at once while growing.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{expect_count, fig, Figures, Params, Sample};
use crate::adapter::CrisisMap;
use crate::alloc;
use crate::maps::hasher;

/// std `HashMap<u64, u64>` (ahash) bytes per entry, the reference.
pub static STD_BYTES: OnceLock<f64> = OnceLock::new();

fn std_reference(p: &Params) -> f64 {
    *STD_BYTES.get_or_init(|| {
        let keys = p.keys();
        alloc::start();
        let mut m = HashMap::with_hasher(hasher());
        for i in 0..p.c8_entries {
            let k = keys.key(i);
            m.insert(k, keys.value(k, 0));
        }
        let (live, _) = alloc::live_and_peak();
        alloc::stop();
        assert_eq!(m.len() as u64, p.c8_entries);
        drop(m);
        live as f64 / p.c8_entries as f64
    })
}

pub fn run<M: CrisisMap<u64>>(p: &Params) -> Result<Sample, String> {
    let keys = p.keys();
    let reference = std_reference(p);
    alloc::start();
    let m = M::with_capacity(0);
    for i in 0..p.c8_entries {
        let k = keys.key(i);
        m.insert(k, keys.value(k, 0));
    }
    let (live, peak) = alloc::live_and_peak();
    alloc::stop();
    expect_count(&m, &keys, p.c8_entries)?;
    drop(m);
    let per = live as f64 / p.c8_entries as f64;
    let mut f = Figures::new();
    f.insert(fig::BYTES, per);
    f.insert(fig::PEAK_BYTES, peak as f64 / p.c8_entries as f64);
    f.insert(fig::RATIO_STD, per / reference);
    Ok(Sample::new(f))
}
