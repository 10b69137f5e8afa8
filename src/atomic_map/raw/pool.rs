//! Recycled value memory: the boxes of replaced values, once their epoch
//! has passed, go to a per-thread free list instead of back to the
//! allocator, and the next overwrite on that thread takes its box from there.
//!
//! Why: every overwrite boxes its value and retires the old box. Retired
//! boxes are freed by the collector in batches (a bag of up to 64 objects at
//! a time), far more than the allocator's per-thread cache holds (glibc's
//! tcache keeps 7 blocks per size), so without recycling most frees and
//! most of the next mallocs take the allocator's slow paths: about 200 of
//! the 560 instructions of a one-thread overwrite went to `malloc` and
//! `free`.
//!
//! What this keeps true:
//! - A box's memory is recycled only in [`free_value`], which callers reach
//!   only from an epoch-deferred destructor (or with the only pointer to an
//!   unpublished box): memory is reused only after no guard can see it, as
//!   when it was freed.
//! - The value itself is dropped exactly when it was before (in
//!   [`free_value`]): only its memory is kept.
//! - Each block was allocated by the global allocator with the layout of
//!   the `V` it is handed out for again, or it goes back to the allocator
//!   (see [`Class::align`]): a `Box<V>` made from it frees it correctly.
//! - Bounded: at most [`POOL_BYTES`] per size class per thread; the rest is
//!   freed. A thread's blocks are freed when the thread exits.
//!
//! Pooled: sizes from 8 (a block on the free list holds the next pointer)
//! to [`MAX_POOLED`] bytes. Under loom there is no pool (loom runs every model
//! thread on one OS thread, and models the allocation of every box).

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr;

/// Largest value size whose boxes are recycled.
pub(super) const MAX_POOLED: usize = 64;

/// Bytes of free blocks kept per size class per thread.
pub(super) const POOL_BYTES: usize = 32 * 1024;

/// Smallest pooled size: a free block stores the next block's address.
const MIN_POOLED: usize = std::mem::size_of::<*mut u8>();

const CLASSES: usize = MAX_POOLED - MIN_POOLED + 1;

/// Whether boxes of `V` are recycled.
#[inline]
pub(super) const fn pooled<V>() -> bool {
    let size = std::mem::size_of::<V>();
    !cfg!(epochmap_loom) && size >= MIN_POOLED && size <= MAX_POOLED
}

/// The free blocks of one size (one value size in bytes).
struct Class {
    /// The first free block, null if none. Each free block starts with the
    /// address of the next one (stored unaligned: a block is aligned only to
    /// its value's alignment).
    head: Cell<*mut u8>,
    /// Blocks on the list.
    len: Cell<usize>,
    /// The alignment every block on the list was allocated with (set when a
    /// block enters an empty list). A block of another alignment is not
    /// listed, and a request of another alignment is not served, so a block
    /// is always freed (and reused) with the layout it was allocated with.
    align: Cell<usize>,
}

struct Pool {
    classes: [Class; CLASSES],
}

impl Pool {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const EMPTY: Class = Class {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
            align: Cell::new(1),
        };
        Pool {
            classes: [EMPTY; CLASSES],
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (i, c) in self.classes.iter().enumerate() {
            let size = i + MIN_POOLED;
            while let Some(p) = pop(c) {
                // SAFETY: every listed block was allocated by the global
                // allocator with this size and the class's alignment
                // (`Class::align`), and is listed once.
                unsafe {
                    std::alloc::dealloc(p, Layout::from_size_align_unchecked(size, c.align.get()))
                };
            }
        }
    }
}

thread_local! {
    static POOL: Pool = const { Pool::new() };
}

/// Takes the first block of `c`, if any.
#[inline]
fn pop(c: &Class) -> Option<*mut u8> {
    let p = c.head.get();
    if p.is_null() {
        return None;
    }
    // SAFETY: a listed block is live, at least `MIN_POOLED` bytes, owned by
    // the list, and starts with the next block's address (written by
    // `recycle`).
    let next = unsafe { ptr::read_unaligned(p.cast::<*mut u8>()) };
    c.head.set(next);
    c.len.set(c.len.get() - 1);
    Some(p)
}

/// A box holding `v`, its memory taken from this thread's free blocks if
/// there is one of `V`'s layout.
#[inline]
pub(super) fn alloc_value<V>(v: V) -> Box<V> {
    if pooled::<V>() {
        let block = POOL
            .try_with(|pool| {
                let c = &pool.classes[std::mem::size_of::<V>() - MIN_POOLED];
                if c.align.get() == std::mem::align_of::<V>() {
                    pop(c)
                } else {
                    None
                }
            })
            .ok()
            .flatten();
        if let Some(p) = block {
            let p = p.cast::<V>();
            // SAFETY: `p` was allocated by the global allocator with
            // `Layout::new::<V>()` (same size, and the class's alignment
            // is `V`'s, checked above), and the list gave up its only
            // pointer to it: writing a `V` there and owning it as a
            // `Box<V>` is what `Box::new` does.
            unsafe {
                p.write(v);
                return Box::from_raw(p);
            }
        }
    }
    Box::new(v)
}

/// Drops the boxed value `p` and keeps its memory for this thread's next
/// [`alloc_value`] (or frees it, if the pool is full or gone).
///
/// # Safety
/// `p` came from `Box::<V>::into_raw` (of [`alloc_value`] or not), the
/// caller owns it, and no other thread can reach it any more (its epoch
/// has passed, or it was never published).
pub(super) unsafe fn free_value<V>(p: *mut V) {
    if !pooled::<V>() {
        // SAFETY: the caller's guarantee.
        drop(unsafe { Box::from_raw(p) });
        return;
    }
    /// Recycles the memory even if the value's `Drop` panics (as a `Box`
    /// frees it then).
    struct Recycle(*mut u8, Layout);
    impl Drop for Recycle {
        fn drop(&mut self) {
            // SAFETY: the block is owned (caller of `free_value`) and its
            // value dropped (or dropping it unwound: the memory is not
            // read as a value again).
            unsafe { recycle(self.0, self.1) }
        }
    }
    let _recycle = Recycle(p.cast::<u8>(), Layout::new::<V>());
    // SAFETY: the caller owns the live, initialised `V` at `p`; it is
    // dropped once, here, and its memory only recycled afterwards.
    unsafe { ptr::drop_in_place(p) };
}

/// Lists `block` (of `layout`, its value already dropped) on this thread's
/// free list, or frees it.
///
/// # Safety
/// `block` was allocated by the global allocator with `layout`, whose size is
/// pooled; the caller owns it and nothing reads it afterwards.
unsafe fn recycle(block: *mut u8, layout: Layout) {
    debug_assert!((MIN_POOLED..=MAX_POOLED).contains(&layout.size()));
    let listed = POOL
        .try_with(|pool| {
            let c = &pool.classes[layout.size() - MIN_POOLED];
            if c.len.get() == 0 {
                c.align.set(layout.align());
            } else if c.align.get() != layout.align()
                || (c.len.get() + 1) * layout.size() > POOL_BYTES
            {
                return false;
            }
            // SAFETY: the block is owned and at least `MIN_POOLED` bytes;
            // it now belongs to the list.
            unsafe { ptr::write_unaligned(block.cast::<*mut u8>(), c.head.get()) };
            c.head.set(block);
            c.len.set(c.len.get() + 1);
            true
        })
        // The thread is exiting and its pool is gone.
        .unwrap_or(false);
    if !listed {
        // SAFETY: the caller's guarantee.
        unsafe { std::alloc::dealloc(block, layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycles_by_layout() {
        let listed = || POOL.with(|p| p.classes[8 - MIN_POOLED].len.get());
        let a = Box::into_raw(alloc_value(1u64));
        // SAFETY: an owned, unpublished box.
        unsafe { free_value(a) };
        assert_eq!(listed(), 1);
        // The same thread gets the same block back for the same layout...
        let b = Box::into_raw(alloc_value(2u64));
        assert_eq!(a, b);
        assert_eq!(listed(), 0);
        // SAFETY: as above.
        assert_eq!(unsafe { *b }, 2);
        // SAFETY: as above.
        unsafe { free_value(b) };
        // ...but not for another alignment of the same size.
        let c = Box::into_raw(alloc_value([7u8; 8]));
        assert_ne!(c.cast::<u8>(), b.cast::<u8>());
        // SAFETY: as above (its class holds a block of alignment 8: this
        // one is freed, not listed).
        unsafe { free_value(c) };
        assert_eq!(listed(), 1);
        let d = Box::into_raw(alloc_value(3u64));
        assert_eq!(d, b);
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(d) });
    }

    #[test]
    fn drops_values_and_bounds_the_list() {
        use std::rc::Rc;
        let counted = Rc::new(());
        let n = POOL_BYTES / 8 + 10;
        let boxes: Vec<_> = (0..n)
            .map(|_| Box::into_raw(alloc_value(Rc::clone(&counted))))
            .collect();
        assert_eq!(Rc::strong_count(&counted), n + 1);
        for b in boxes {
            // SAFETY: owned, unpublished boxes, freed once.
            unsafe { free_value(b) };
        }
        assert_eq!(Rc::strong_count(&counted), 1);
        let len = POOL.with(|p| p.classes[8 - MIN_POOLED].len.get());
        assert!(len * 8 <= POOL_BYTES, "{len} blocks listed");
    }
}
