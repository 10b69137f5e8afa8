//! A hasher that panics on demand: [`arm`] makes the n-th hash computed on
//! this thread from now on panic (once). Maps built with [`TrapState`] hash
//! like std's `DefaultHasher` otherwise.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    /// Hashes left before the trap fires; 0 when disarmed.
    static COUNTDOWN: Cell<u32> = const { Cell::new(0) };
}

/// The `n`-th hash (1-based) computed on this thread from now on panics.
/// `n == 0` disarms.
pub fn arm(n: u32) {
    COUNTDOWN.with(|c| c.set(n));
}

/// Disarms; returns the hashes that were left before the trap would have
/// fired (0 when it was not armed), for [`arm`] to restore.
pub fn disarm() -> u32 {
    COUNTDOWN.with(|c| c.replace(0))
}

/// The payload of the trap's panic. It is raised with `resume_unwind`, which
/// skips the panic hook (libFuzzer's hook aborts on every panic).
#[derive(Debug)]
pub struct TrapPanic;

/// Builds [`TrapHasher`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrapState;

impl BuildHasher for TrapState {
    type Hasher = TrapHasher;
    fn build_hasher(&self) -> TrapHasher {
        TrapHasher(std::collections::hash_map::DefaultHasher::new())
    }
}

/// Std's `DefaultHasher` (SipHash, fixed keys), with a trap in `finish`.
#[derive(Debug, Clone)]
pub struct TrapHasher(std::collections::hash_map::DefaultHasher);

impl Hasher for TrapHasher {
    fn finish(&self) -> u64 {
        COUNTDOWN.with(|c| match c.get() {
            0 => {}
            1 => {
                c.set(0);
                std::panic::resume_unwind(Box::new(TrapPanic));
            }
            n => c.set(n - 1),
        });
        self.0.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i)
    }
}
