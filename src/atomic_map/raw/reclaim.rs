//! Reclamation: the one place of [`AtomicPtrMap`](crate::AtomicPtrMap) that
//! talks to `crossbeam-epoch`.
//!
//! Everything the map unlinks (an overwritten or removed value, an expunged
//! entry, a superseded snapshot array, overlay array or layer set) is handed
//! to [`retire`], which defers its destruction until every thread that was
//! pinned when it was unlinked has unpinned. The map uses the global
//! collector of `crossbeam-epoch` (one `pin` is a thread-local counter bump,
//! which is what makes per-call reads cheap), so retired objects are freed by
//! whichever thread next collects garbage, possibly after the map itself has
//! been dropped. That is why the map's operations require `K`, `V: Send +
//! 'static`.
//!
//! Large arrays (a superseded snapshot or overlay, [`OFFLOAD_BYTES`] or more)
//! are not freed by the thread that runs their deferred destructor: that is
//! often a writer (a pin collects garbage), and freeing an array returns its
//! pages to the system, at a cost that grows with the array, so the slowest
//! insert grew with the map. The destructor hands them to the *reclaimer*, one
//! background thread per process started on first use, which frees them
//! ([`free_large`]). If that thread cannot be started, arrays are freed where
//! they are; under loom and Miri they always are.
//!
//! Across `fork` (without exec): the child has none of the parent's threads,
//! its reclaimer included. Each reclaimer records its process (the process
//! id, and a fork generation that a `pthread_atfork` handler moves on in
//! every child), and the first large array freed in a process that finds
//! another process's reclaimer starts one for this process, which also
//! frees the child's copies of the arrays the parent had queued. The hand-off takes no lock,
//! so no lock copied while held can block it (see the `reclaimer` module).
//! What the child cannot recover is the epoch state of the parent's other
//! threads: one that was pinned at the moment of the fork stays pinned in
//! the child's copy of the global collector, so the child's garbage is never
//! collected; the public docs ask for forks while no other thread is inside
//! a map call or holds a guard.
//!
//! The garbage counters count on retire and count down in the deferred
//! destructor (for a large array: once it is handed to the reclaimer), so
//! [`Stats`](crate::atomic_map::Stats) reports how much memory is waiting
//! for readers to unpin: a long-held guard shows up there instead of growing
//! memory unnoticed.

use std::sync::Arc;

use super::garbage::ValueCounts;
use super::pool::free_value;
use super::sync::{AtomicUsize, Ordering};

pub(crate) use crossbeam_epoch::Guard;

/// Pins the current thread to the global epoch.
#[inline]
pub(crate) fn pin() -> Guard {
    crossbeam_epoch::pin()
}

/// Objects and bytes retired but not yet freed, for one partition: every
/// object but values, which are counted per map without a shared write
/// (see the `garbage` module).
///
/// Held in an `Arc` by the partition, and every retired object holds one
/// more strong reference until its destructor has run (so the counters
/// outlive the map when the collector frees its garbage later). That strong
/// count *is* the object counter: `objects = strong_count - 1`. The objects
/// counted here (arrays, layer sets, batches of entries) are retired rarely,
/// once per merge.
#[derive(Debug, Default)]
pub(super) struct Garbage {
    /// Bytes of the objects retired and not yet freed. Counter only:
    /// Relaxed.
    other_bytes: AtomicUsize,
}

impl Garbage {
    /// Objects retired and not yet freed (a racy statistic).
    pub(super) fn objects(this: &Arc<Self>) -> usize {
        // The partition's own reference is the one not held by garbage.
        Arc::strong_count(this).saturating_sub(1)
    }

    /// Bytes of those objects.
    pub(super) fn bytes(this: &Arc<Self>) -> usize {
        this.other_bytes.load(Ordering::Relaxed)
    }
}

/// Defers `destroy()` until no thread pinned now can still be reading the
/// object it frees, and counts it (with `bytes`) as garbage until then.
/// Values are retired by [`retire_boxed_value`].
///
/// # Safety
/// 1. The object that `destroy` frees has been unlinked: no pointer to it is
///    reachable from anything published by the map any more, so only threads
///    pinned now (before this call returns) can still hold a reference.
/// 2. `destroy` is called at most once for that object, here and nowhere else
///    (the caller gives up ownership).
/// 3. `destroy` may run on any thread, at any later time, even after the map
///    is dropped: whatever it drops must be `Send + 'static`.
pub(super) unsafe fn retire<F>(guard: &Guard, garbage: &Arc<Garbage>, bytes: usize, destroy: F)
where
    F: FnOnce() + 'static,
{
    garbage.other_bytes.fetch_add(bytes, Ordering::Relaxed);
    // The strong reference counts the object (see `Garbage`).
    let garbage = Arc::clone(garbage);
    // SAFETY: the caller guarantees (1) the object is unlinked, so after the
    // current epoch has passed no thread can reach it, (2) it is destroyed only
    // here and (3) the closure may run on any thread at any later time.
    unsafe {
        guard.defer_unchecked(move || {
            destroy();
            garbage.other_bytes.fetch_sub(bytes, Ordering::Relaxed);
            drop(garbage);
        });
    }
}

/// Pushes this thread's garbage to the global queue and tries to collect:
/// called after retiring a snapshot, so large arrays do not wait in a
/// thread-local bag.
///
/// Collecting runs deferred destructors, which may be any user `Drop`, and a
/// `Drop` that writes to a map can merge and call `flush` again. Nested flushes
/// are skipped: without that, each level collects more garbage whose
/// destructors flush again, and the recursion is bounded only by the amount of
/// garbage (it overflowed a 2 MiB test-thread stack in a debug build). The
/// skipped garbage stays queued and is collected by the outer flush or by a
/// later pin, so nothing leaks.
#[inline]
pub(super) fn flush(guard: &Guard) {
    use std::cell::Cell;

    #[cfg(not(epochmap_loom))]
    thread_local! {
        static FLUSHING: Cell<bool> = const { Cell::new(false) };
    }
    // Loom runs its threads on one OS thread: a `std` thread-local would be
    // shared by them.
    #[cfg(epochmap_loom)]
    super::sync::thread_local! {
        static FLUSHING: Cell<bool> = Cell::new(false);
    }
    /// Clears the flag even if a destructor panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = FLUSHING.try_with(|f| f.set(false));
        }
    }

    // During thread teardown the TLS slot may be gone; then flushing is
    // skipped too (crossbeam collects the garbage later).
    let entered = FLUSHING.try_with(|f| !f.replace(true)).unwrap_or(false);
    if entered {
        let _reset = Reset;
        guard.flush();
    }
}

/// Retires a boxed `T`: it is dropped once every thread pinned now unpins.
///
/// # Safety
/// As [`retire`]: `p` came from `Box::into_raw`, is unlinked and is
/// retired only once; `T: Send` in the sense that dropping it on another
/// thread is sound.
pub(super) unsafe fn retire_box<T: 'static>(
    guard: &Guard,
    garbage: &Arc<Garbage>,
    p: *mut T,
    bytes: usize,
) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        drop(unsafe { Box::from_raw(p) })
    };
    // SAFETY: forwarded from the caller.
    unsafe { retire(guard, garbage, bytes, destroy) }
}

/// Retires a boxed value, counted as garbage in the map's `counts` until it
/// is freed; once freed, its memory is recycled ([`free_value`]). Counting
/// writes only this thread's stripe of `counts`, and the destructor the
/// freeing thread's (see the `garbage` module).
///
/// # Safety
/// As [`retire_box`].
#[inline]
pub(super) unsafe fn retire_boxed_value<V: 'static>(
    guard: &Guard,
    counts: &'static ValueCounts,
    p: *mut V,
) {
    /// Counts the value freed even if its `Drop` panics (its memory is
    /// recycled or freed then too), so the map's block drains.
    struct Freed(&'static ValueCounts);
    impl Drop for Freed {
        fn drop(&mut self) {
            self.0.freed();
        }
    }
    counts.retired();
    let destroy = move || {
        let _freed = Freed(counts);
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it: its value is dropped and
        // its memory recycled for this thread's next value box.
        unsafe { free_value(p) }
    };
    // SAFETY: the caller guarantees (1) the value is unlinked, so after the
    // current epoch has passed no thread can reach it, (2) it is retired
    // only here and (3) `V: Send + 'static`, so `destroy` may run on any
    // thread at any later time (`counts` is never freed).
    unsafe { guard.defer_unchecked(destroy) }
}

/// Arrays of at least this many bytes are freed by the reclaimer thread
/// (there is none under loom and Miri: everything is freed inline).
#[cfg_attr(any(epochmap_loom, miri), allow(dead_code))]
pub(super) const OFFLOAD_BYTES: usize = 64 * 1024;

/// Drops `b`, about `bytes` bytes: on this process's reclaimer thread if it
/// is at least [`OFFLOAD_BYTES`] (and the thread runs), else here. For
/// memory only: `T`'s drop must run no user code (it may run at any later
/// time, and after the map is dropped).
pub(super) fn free_large<T: Send + 'static>(b: Box<T>, bytes: usize) {
    #[cfg(not(any(epochmap_loom, miri)))]
    if bytes >= OFFLOAD_BYTES {
        if let Some(r) = reclaimer::get() {
            r.free(b);
            #[cfg(test)]
            tests::OFFLOADED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let _ = bytes;
    drop(b);
}

/// The reclaimer's queue: a lock-free stack that any thread pushes to and
/// takes from only all at once (so a node is never popped while another
/// thread reads it: no ABA). Outside the reclaimer so that it is tested
/// under Miri too, with real threads.
#[cfg(not(epochmap_loom))]
#[cfg_attr(all(miri, not(test)), allow(dead_code))]
mod queue {
    use std::panic::{self, AssertUnwindSafe};
    use std::ptr;

    use super::super::sync::{AtomicPtr, Ordering};

    /// A queued array (any boxed memory whose drop runs no user code). It
    /// reaches the thread that frees it through raw pointers, which is
    /// sound because `garbage` is `Send` and a node is only touched by the
    /// thread that pushes it, until its push, and by the one that takes it,
    /// after.
    pub(super) struct Node {
        /// The node pushed before this one; null at the bottom, and while
        /// the node is in no queue.
        next: *mut Node,
        garbage: Box<dyn Send>,
    }

    impl Node {
        pub(super) fn new(garbage: Box<dyn Send>) -> Box<Self> {
            Box::new(Node {
                next: ptr::null_mut(),
                garbage,
            })
        }

        /// Drops the node and its garbage.
        ///
        /// A panic while the garbage is dropped is caught. What is queued is
        /// memory whose drop runs no user code (the contract of
        /// [`free_large`](super::free_large)), so a panic here is a bug of
        /// the engine, not a user's panic; but unwinding out of a drop is
        /// sound (the panicking value is dropped as far as it got and the
        /// rest of it leaked, and it is reachable by no one: the node was
        /// taken), so there is no corruption that an abort would contain.
        /// Left to unwind, the panic would end the reclaimer thread, and
        /// every large array the process retires later would stay queued
        /// forever: a leak that grows with the process, where this is one
        /// array's. The panic hook has reported the panic when it is
        /// caught. (Built with `panic = "abort"`, the process aborts
        /// instead.)
        fn free(self) {
            let Node { garbage, .. } = self;
            // AssertUnwindSafe: after a panic nothing of `garbage` is used
            // again (it is moved into the closure and dropped there).
            // The payload is forgotten, not dropped: a payload whose own
            // drop panicked would end the thread after all.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(garbage))) {
                std::mem::forget(payload);
            }
        }
    }

    /// What is waiting to be freed, newest first.
    #[derive(Default)]
    pub(super) struct Queue {
        /// Pushes: Release CAS, pairing with the Acquire swap of `take`.
        head: AtomicPtr<Node>,
    }

    impl Drop for Queue {
        /// Frees what is still queued (a queue is dropped only with no
        /// other reference to it, so nothing pushes any more).
        fn drop(&mut self) {
            drop(self.take());
        }
    }

    impl Queue {
        pub(super) fn push(&self, node: Box<Node>) {
            let node = Box::into_raw(node);
            // Relaxed: the old head is only stored in `next`, never read
            // through here.
            let mut head = self.head.load(Ordering::Relaxed);
            loop {
                // SAFETY: `node` came from `Box::into_raw` above and is
                // published only by the successful CAS below: until then
                // this thread owns it.
                unsafe { (*node).next = head };
                // Release pairs with the Acquire swap of `take`: the node
                // and its `next` are written before it is reachable. (Every
                // push is a read-modify-write of `head`, so one Acquire
                // swap synchronises with all the pushes below it too.)
                match self.head.compare_exchange_weak(
                    head,
                    node,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => head = now,
                }
            }
        }

        /// Takes every node pushed so far.
        pub(super) fn take(&self) -> Chain {
            // Acquire pairs with the Release CAS of `push`.
            Chain(self.head.swap(ptr::null_mut(), Ordering::Acquire))
        }
    }

    /// Nodes taken from a queue, newest first, owned by the taker: it
    /// iterates over them, and dropping the chain frees the nodes left
    /// ([`Node::free`]).
    pub(super) struct Chain(
        /// The first node, null once the chain is empty; each node and its
        /// `next` were made visible by the Acquire swap of [`Queue::take`],
        /// and the swap removed them from the queue, so this chain owns
        /// them.
        *mut Node,
    );

    impl Iterator for Chain {
        type Item = Box<Node>;

        fn next(&mut self) -> Option<Box<Node>> {
            if self.0.is_null() {
                return None;
            }
            // SAFETY: the chain owns its nodes (see the field), each came
            // from `Box::into_raw` in `push`, and this one leaves the chain
            // here, so it is turned back into a box once.
            let mut node = unsafe { Box::from_raw(self.0) };
            self.0 = std::mem::replace(&mut node.next, ptr::null_mut());
            Some(node)
        }
    }

    impl Drop for Chain {
        fn drop(&mut self) {
            for node in self {
                (*node).free();
            }
        }
    }
}

/// The reclaimer: one background thread per process, which frees what is
/// pushed to its [`Queue`](queue::Queue). A pusher wakes the thread with
/// `Thread::unpark`, whose token is never lost: the thread empties the queue
/// after every wake-up and before it parks again.
///
/// # Fork
///
/// A process forked without exec has only the forking thread: the parent's
/// reclaimer, and whatever it was doing, is not there. So every reclaimer
/// records the process it serves (its `Owner`: process id and fork
/// generation, read once per large array, which is at most once per
/// [`OFFLOAD_BYTES`] retired), and a process that finds another process's
/// reclaimer installed starts its own (on the first large array it frees).
/// The new one also frees the arrays that the parent had queued and not freed
/// when it forked: the child's copies of them are the child's memory. The
/// hand-off takes no lock, so no lock copied while held at fork can block the
/// child: the parent's queue is a single atomic pointer, left by the fork
/// either with or without a node that was being pushed. Arrays that a
/// vanished thread of the parent owned at the fork (a node not yet pushed, a
/// chain its reclaimer had taken and not yet freed) are never freed in the
/// child: a bounded leak. Starting the thread allocates and creates a thread
/// in the child, which the C libraries support after `fork`; if it fails,
/// arrays are freed inline.
///
/// A process is told from its parent by its id or by its fork generation
/// (`fork::generation`): the id alone misses a child that has the id its
/// parent's reclaimer recorded (pid 1 of a new pid namespace forked by a pid
/// 1, or an id recycled after the forking process exited), which would push
/// to a queue no thread empties; the generation alone misses a fork that runs
/// no `pthread_atfork` handlers (a raw `fork` system call, glibc's `_Fork`).
/// A child missed by both leaks its large arrays: one that keeps its parent's
/// id and forked without the handlers, or while the process was registering
/// them (see `fork::register`).
#[cfg(not(any(epochmap_loom, miri)))]
mod reclaimer {
    use std::sync::Arc;
    use std::thread::{self, Thread};

    use super::super::sync::{AtomicPtr, Ordering};
    use super::queue::{Chain, Node, Queue};

    /// A process as a reclaimer records it: two processes differ in one
    /// field at least, unless a fork escaped the generation (see the
    /// module docs).
    #[derive(Clone, Copy, PartialEq, Eq)]
    struct Owner {
        /// [`std::process::id`].
        pid: u32,
        /// [`fork::generation`].
        generation: usize,
    }

    impl Owner {
        /// The process of the calling thread.
        fn current() -> Self {
            Owner {
                pid: std::process::id(),
                generation: fork::generation(),
            }
        }
    }

    /// The fork generation: how many forks (that ran the `pthread_atfork`
    /// child handlers) separate this process from the one that registered
    /// the handler, the first of its line to start a reclaimer. The parent
    /// of a fork keeps its generation and the child counts one more, so a
    /// child's generation differs from its parent's whatever their process
    /// ids (siblings share one, which is never compared: neither sees the
    /// other's reclaimer).
    #[cfg(unix)]
    pub(super) mod fork {
        use std::ffi::c_int;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        /// Written only by [`child`]. Relaxed: `child` runs in the child of
        /// a fork before `fork` returns there, while that process has one
        /// thread, so every later read in that process (by that thread, or
        /// by a thread started after it) happens after the write, and no
        /// other process shares the variable. It publishes nothing else.
        static GENERATION: AtomicUsize = AtomicUsize::new(0);

        /// Whether the registration is claimed, by a thread of this process
        /// or of a parent before the fork (registered handlers, like this
        /// flag, are inherited). Relaxed: it elects the one thread that
        /// registers (a read-modify-write) and publishes nothing.
        static CLAIMED: AtomicBool = AtomicBool::new(false);

        // Targets whose C library is known to have `pthread_atfork`; on
        // other Unix targets no handler is registered and a child is told
        // by its process id alone.
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_vendor = "apple",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly",
            target_os = "solaris",
            target_os = "illumos"
        ))]
        extern "C" {
            /// POSIX: registers handlers that `fork` runs, `child` in the
            /// child process before `fork` returns there.
            fn pthread_atfork(
                prepare: Option<unsafe extern "C" fn()>,
                parent: Option<unsafe extern "C" fn()>,
                child: Option<unsafe extern "C" fn()>,
            ) -> c_int;
        }

        /// The child handler. One atomic read-modify-write on a static,
        /// which is async-signal-safe: POSIX lets a signal handler call
        /// `fork`, and then only such functions may run in the child.
        #[cfg_attr(
            not(any(
                target_os = "linux",
                target_os = "android",
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly",
                target_os = "solaris",
                target_os = "illumos"
            )),
            allow(dead_code)
        )]
        pub(super) extern "C" fn child() {
            GENERATION.fetch_add(1, Ordering::Relaxed);
        }

        pub(super) fn generation() -> usize {
            GENERATION.load(Ordering::Relaxed)
        }

        /// Registers [`child`], once per process and its descendants (the
        /// first call claims the registration; if `pthread_atfork` fails,
        /// a later call tries again). Called before a reclaimer is started,
        /// so forks after its installation move the generation on; another
        /// thread's reclaimer, started while the claiming thread is still
        /// inside `pthread_atfork`, can be installed before that: a fork in
        /// that window is told by the process id alone, and so are that
        /// child and its descendants (they inherit the claim without the
        /// handler). No thread waits
        /// for the registration: a lock, or a `Once`, copied by a fork
        /// while another thread held it would block the child forever.
        pub(super) fn register() {
            #[cfg(any(
                target_os = "linux",
                target_os = "android",
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly",
                target_os = "solaris",
                target_os = "illumos"
            ))]
            {
                if CLAIMED.swap(true, Ordering::Relaxed) {
                    return;
                }
                // SAFETY: `pthread_atfork` has no preconditions. The
                // handler is a function of this crate with the C ABI that
                // does only what a handler in a forked child may (see
                // `child`); the null handlers are allowed. The handler must
                // stay valid while registered: this assumes the code is
                // never unloaded, or that the C library drops a library's
                // handlers when it is unloaded (glibc and FreeBSD do); a
                // `dlclose`d library holding epochmap on another system
                // would leave a dangling handler for the next fork.
                if unsafe { pthread_atfork(None, None, Some(child)) } != 0 {
                    CLAIMED.store(false, Ordering::Relaxed);
                }
            }
            #[cfg(not(any(
                target_os = "linux",
                target_os = "android",
                target_vendor = "apple",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "openbsd",
                target_os = "dragonfly",
                target_os = "solaris",
                target_os = "illumos"
            )))]
            let _ = &CLAIMED;
        }
    }

    /// Without `fork`, one generation.
    #[cfg(not(unix))]
    pub(super) mod fork {
        pub(super) fn generation() -> usize {
            0
        }

        pub(super) fn register() {}
    }

    /// The reclaimer of one process.
    pub(super) struct Reclaimer {
        /// The process whose thread `thread` is.
        owner: Owner,
        queue: Arc<Queue>,
        /// `None`: no thread could be started; arrays are freed inline.
        thread: Option<Thread>,
    }

    impl Reclaimer {
        /// Hands `garbage` to the reclaimer thread, which drops it.
        pub(super) fn free(&self, garbage: Box<dyn Send>) {
            self.queue.push(Node::new(garbage));
            if let Some(t) = &self.thread {
                t.unpark();
            }
        }
    }

    /// The reclaimer installed last, by this process or by the one that
    /// forked it. Installed reclaimers are never freed (a forked child
    /// replaces its parent's copy and leaks it: another thread of the child
    /// may still be reading its `owner`). AcqRel CAS in [`start`], whose
    /// Release half pairs with the Acquire loads.
    static RECLAIMER: AtomicPtr<Reclaimer> = AtomicPtr::new(std::ptr::null_mut());

    /// This process's reclaimer, started on first use; `None` if its thread
    /// could not be started.
    pub(super) fn get() -> Option<&'static Reclaimer> {
        let me = Owner::current();
        // Acquire pairs with the Release CAS of `start`: the reclaimer's
        // fields are initialised.
        let cur = RECLAIMER.load(Ordering::Acquire);
        // SAFETY: a non-null `RECLAIMER` points to a reclaimer that is never
        // freed (see `RECLAIMER`), initialised (the Acquire above).
        match unsafe { cur.as_ref() } {
            Some(r) if r.owner == me => r.thread.is_some().then_some(r),
            _ => start(me, cur),
        }
    }

    /// Starts a reclaimer for this process and installs it in place of
    /// `old` (null, or another process's), unless another thread of this
    /// process installed one first.
    #[cold]
    fn start(me: Owner, mut old: *mut Reclaimer) -> Option<&'static Reclaimer> {
        fork::register();
        let queue = Arc::new(Queue::default());
        let ours = Arc::clone(&queue);
        let thread = thread::Builder::new()
            .name("epochmap-reclaim".into())
            // It only frees memory.
            .stack_size(64 * 1024)
            .spawn(move || run(&ours))
            .ok()
            .map(|handle| handle.thread().clone());
        let new = Box::into_raw(Box::new(Reclaimer {
            owner: me,
            queue,
            thread,
        }));
        loop {
            // Release pairs with the Acquire loads of `get` and of the
            // failure case below on other threads: `new` is initialised.
            // Acquire on failure: so is the reclaimer found instead.
            match RECLAIMER.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // SAFETY: installed, so never freed.
                    let new = unsafe { &*new };
                    // SAFETY: `old` was installed (or is null), so it is
                    // never freed; its fields were visible to the Acquire
                    // load that read it.
                    if let Some(old) = unsafe { old.as_ref() } {
                        // Another process's queue: no thread of this process
                        // pushes to it (its owner is not us), none empties
                        // it.
                        adopt(old.queue.take(), new);
                    }
                    return new.thread.is_some().then_some(new);
                }
                Err(now) => {
                    // SAFETY: non-null (only non-null reclaimers are
                    // installed), installed so never freed, initialised
                    // (Acquire on failure).
                    let now_ref = unsafe { &*now };
                    if now_ref.owner != me {
                        // Not this process's either: replace it.
                        old = now;
                        continue;
                    }
                    // Another thread of this process installed one first.
                    // SAFETY: `new` was never published: this thread owns it.
                    let spare = unsafe { Box::from_raw(new) };
                    let thread = spare.thread.clone();
                    // Its thread exits once it sees itself the last owner of
                    // the queue (`run`); the unpark after the drop wakes it.
                    drop(spare);
                    if let Some(t) = thread {
                        t.unpark();
                    }
                    return now_ref.thread.is_some().then_some(now_ref);
                }
            }
        }
    }

    /// Hands a chain inherited from the parent to `new`, or frees it here.
    fn adopt(chain: Chain, new: &Reclaimer) {
        match &new.thread {
            Some(t) => {
                for node in chain {
                    new.queue.push(node);
                }
                t.unpark();
            }
            None => drop(chain),
        }
    }

    /// The reclaimer thread: frees what is queued until it is the last
    /// owner of its queue (a spare, see `start`; an installed reclaimer is
    /// never dropped).
    fn run(queue: &Arc<Queue>) {
        loop {
            // Frees every node taken.
            drop(queue.take());
            // The spare's owner drops its reference before it unparks this
            // thread, and `unpark` synchronises with the `park` it ends, so
            // the count read after that wake-up is 1.
            if Arc::strong_count(queue) == 1 {
                return;
            }
            thread::park();
        }
    }

    #[cfg(test)]
    pub(in super::super) mod tests {
        use std::sync::{Mutex, MutexGuard};

        use super::*;

        /// Held by a test from before it installs a reclaimer of another
        /// process until that one has been replaced: installing one over
        /// another test's would strand that test's queued arrays (replaced
        /// by an install, not by `start`, nothing adopts them).
        pub(in super::super::super) fn installing() -> MutexGuard<'static, ()> {
            static INSTALLING: Mutex<()> = Mutex::new(());
            INSTALLING.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Installs a reclaimer that looks inherited from another process
        /// (pid 0 is never a user process), with `garbage` in its queue.
        pub(in super::super::super) fn install_foreign(garbage: Box<dyn Send>) {
            install(
                Owner {
                    pid: 0,
                    generation: fork::generation(),
                },
                None,
                garbage,
            );
        }

        /// Puts this process where the child of a fork that kept its
        /// parent's process id is: moves the fork generation on, as the
        /// child handler does in a child, and installs a reclaimer
        /// recorded by the parent (this process id, and a generation that no
        /// thread of this process holds, so that no other test's thread can
        /// take it for its own)
        /// whose thread never empties its queue (the calling thread's
        /// handle), with `garbage` in its queue.
        #[cfg(unix)]
        pub(in super::super::super) fn install_inherited_keeping_the_pid(garbage: Box<dyn Send>) {
            fork::child();
            let parent = Owner {
                pid: std::process::id(),
                generation: fork::generation().wrapping_add(1),
            };
            install(parent, Some(thread::current()), garbage);
        }

        fn install(owner: Owner, thread: Option<Thread>, garbage: Box<dyn Send>) {
            let queue = Arc::new(Queue::default());
            queue.push(Node::new(garbage));
            let foreign = Box::into_raw(Box::new(Reclaimer {
                owner,
                queue,
                thread,
            }));
            // Leaks the reclaimer it replaces (installed ones are never
            // freed); its thread stays parked.
            RECLAIMER.store(foreign, Ordering::Release);
        }
    }
}

/// [`retire_box`] for an array (a table): freed through [`free_large`].
///
/// # Safety
/// As [`retire_box`]; dropping a `T` frees memory and runs no user code.
pub(super) unsafe fn retire_array<T: Send + 'static>(
    guard: &Guard,
    garbage: &Arc<Garbage>,
    p: *mut T,
    bytes: usize,
) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        free_large(unsafe { Box::from_raw(p) }, bytes)
    };
    // SAFETY: forwarded from the caller.
    unsafe { retire(guard, garbage, bytes, destroy) }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Boxes handed to the reclaimer (by any test of this binary).
    pub(in super::super) static OFFLOADED: AtomicUsize = AtomicUsize::new(0);

    /// Records the thread that drops it.
    struct Probe(std::sync::mpsc::Sender<std::thread::ThreadId>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    /// Waits for the next array to be freed (a 60 s hang guard, not a
    /// timing assertion) and checks that a thread other than `me` freed it.
    #[cfg(not(miri))]
    fn expect_freed_off(
        rx: &std::sync::mpsc::Receiver<std::thread::ThreadId>,
        me: std::thread::ThreadId,
        never: &str,
    ) {
        let by = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect(never);
        assert_ne!(by, me, "freed by a reclaimer thread of this process");
    }

    /// Installs a reclaimer of another process with one array queued (by
    /// `install`), frees one more array, and checks that both are freed by
    /// a reclaimer thread of this process.
    #[cfg(not(miri))]
    fn replaces_the_installed_reclaimer(install: fn(Box<dyn Send>), never: &str) {
        let (tx, rx) = std::sync::mpsc::channel();
        let me = std::thread::current().id();
        let _installing = reclaimer::tests::installing();
        install(Box::new(Probe(tx.clone())));
        free_large(Box::new(Probe(tx)), OFFLOAD_BYTES);
        for _ in 0..2 {
            expect_freed_off(&rx, me, never);
        }
    }

    #[test]
    fn large_arrays_are_freed_by_the_reclaimer() {
        let (tx, rx) = std::sync::mpsc::channel();
        let me = std::thread::current().id();
        free_large(Box::new(Probe(tx.clone())), 16);
        assert_eq!(rx.recv().unwrap(), me, "a small array is freed here");
        // (The size is what the caller says it is.)
        free_large(Box::new(Probe(tx)), OFFLOAD_BYTES);
        let by = rx.recv().unwrap();
        if cfg!(miri) {
            assert_eq!(by, me);
        } else {
            assert_ne!(by, me, "a large array is freed by the reclaimer");
        }
    }

    /// The reclaimer's queue, with real threads (and under Miri, which
    /// checks that the pushers' writes of a node happen before the taker
    /// reads it): pushers push concurrently while one thread takes
    /// repeatedly; every node is taken once and freed once, by the taker,
    /// and each pusher's nodes come newest first within a take and in push
    /// order across takes.
    #[test]
    #[cfg(not(epochmap_loom))]
    fn the_reclaimer_queue_hands_every_node_over_once() {
        use std::cell::RefCell;

        use super::queue::{Node, Queue};

        const PUSHERS: usize = 3;
        const EACH: usize = if cfg!(miri) { 40 } else { 5_000 };
        thread_local! {
            /// The items freed on this thread, in order.
            static FREED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
        }
        /// Records its pusher and sequence number on the thread that
        /// drops it.
        struct Item(usize, usize);
        impl Drop for Item {
            fn drop(&mut self) {
                FREED.with(|f| f.borrow_mut().push((self.0, self.1)));
            }
        }

        let queue = Queue::default();
        // Per pusher, the sequence numbers in the order the taker freed them
        // (each take reversed: newest first within it).
        let mut freed = vec![Vec::new(); PUSHERS];
        std::thread::scope(|s| {
            for pusher in 0..PUSHERS {
                let queue = &queue;
                s.spawn(move || {
                    for seq in 0..EACH {
                        queue.push(Node::new(Box::new(Item(pusher, seq))));
                    }
                });
            }
            // This thread takes until it has every node: the pushers run
            // meanwhile, and no other synchronisation than the queue's
            // orders their pushes before its takes.
            let mut total = 0;
            while total < PUSHERS * EACH {
                drop(queue.take());
                let chain = FREED.with(|f| std::mem::take(&mut *f.borrow_mut()));
                total += chain.len();
                for &(pusher, seq) in chain.iter().rev() {
                    freed[pusher].push(seq);
                }
                std::thread::yield_now();
            }
        });
        for (pusher, seqs) in freed.iter().enumerate() {
            assert!(
                seqs.iter().copied().eq(0..EACH),
                "pusher {pusher}: nodes freed as {seqs:?}"
            );
        }
        assert!(queue.take().next().is_none(), "the queue is empty");
    }

    /// A child of a fork that has the process id its inherited reclaimer
    /// recorded (pid namespaces, recycled ids) is told from its parent by
    /// the fork generation: it starts its own reclaimer, which frees its
    /// arrays and the parent's queued ones. (Told by the process id alone,
    /// it pushed them to the parent's queue, which no thread empties.)
    #[test]
    #[cfg(all(unix, not(miri)))]
    fn a_child_keeping_its_parents_pid_starts_its_own_reclaimer() {
        replaces_the_installed_reclaimer(
            reclaimer::tests::install_inherited_keeping_the_pid,
            "an array was never freed: handed to the parent's reclaimer",
        );
    }

    /// A panic while the reclaimer thread frees an array does not end the
    /// thread: the arrays handed to it afterwards are still freed there.
    /// (Unwinding ended it, and the second array was never freed.)
    #[test]
    #[cfg(not(miri))]
    fn the_reclaimer_outlives_a_panicking_free() {
        /// Sends a message when it is dropped, then panics.
        struct PanicOnDrop(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
                panic!("a test array that panics when it is freed (expected)");
            }
        }

        // The reclaimer frees an array within microseconds when it runs,
        // never when it is gone (`expect_freed_off`'s hang guard).
        let (tx, rx) = std::sync::mpsc::channel();
        let me = std::thread::current().id();
        free_large(Box::new(PanicOnDrop(tx.clone())), OFFLOAD_BYTES);
        expect_freed_off(&rx, me, "the panicking array was never freed");
        // Its thread has now panicked (or is unwinding).
        free_large(Box::new(Probe(tx)), OFFLOAD_BYTES);
        expect_freed_off(
            &rx,
            me,
            "no array is freed after a panicking one: the reclaimer is gone",
        );
    }

    /// A process that finds another process's reclaimer installed (a child
    /// forked without exec) starts its own, which frees both its arrays and
    /// those left queued in the other's queue.
    #[test]
    #[cfg(not(miri))]
    fn a_reclaimer_of_another_process_is_replaced() {
        replaces_the_installed_reclaimer(
            reclaimer::tests::install_foreign,
            "an array was never freed: handed to the other process's reclaimer",
        );
    }
}
