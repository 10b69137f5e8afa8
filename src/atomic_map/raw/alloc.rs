//! Allocation of the arrays of tables: zeroed (lazily, by the allocator)
//! or uninitialised, fallibly, so that presizing a map can report a refused
//! allocation instead of aborting. Knows nothing of the engine's types.

use std::alloc::Layout;
use std::mem::MaybeUninit;

/// The layout of `[T; n]`.
pub(super) fn array_layout<T>(n: usize) -> Layout {
    match Layout::array::<T>(n) {
        Ok(l) => l,
        // `n` is at most `MAX_SLOTS`; beyond the address space anyway.
        Err(_) => panic!("array of {n} slots overflows the address space"),
    }
}

/// `n` `T`s from zeroed memory (`alloc_zeroed`: large arrays come straight
/// from fresh, lazily zeroed pages, so there is no `O(n)` memset), or the
/// layout the allocator refused.
///
/// # Safety
/// All-zero bytes must be a valid `T`.
#[cfg(not(epochmap_loom))]
pub(super) unsafe fn try_zeroed_array<T>(n: usize) -> Result<Box<[T]>, Layout> {
    let layout = array_layout::<T>(n);
    if layout.size() == 0 {
        // SAFETY: a zero-sized array needs no memory: a dangling, aligned
        // pointer is a valid empty (or zero-sized-element) slice, and all-zero
        // is a valid `T` (caller), so ZST elements are valid too.
        return Ok(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                std::ptr::NonNull::<T>::dangling().as_ptr(),
                n,
            ))
        });
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut T;
    if p.is_null() {
        return Err(layout);
    }
    // SAFETY: `p` was allocated by the global allocator with the layout of
    // `[T; n]`, which is the layout `Box<[T]>` frees with, and its `n`
    // all-zero `T`s are valid (caller's guarantee).
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) })
}

/// `n` uninitialised `T`s (allocation only, no writes).
pub(super) fn uninit_array<T>(n: usize) -> Box<[MaybeUninit<T>]> {
    let mut v: Vec<MaybeUninit<T>> = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialisation, and the capacity is at
    // least `n`.
    unsafe { v.set_len(n) };
    v.into_boxed_slice()
}
