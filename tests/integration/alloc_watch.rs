//! The test binary's allocator: the system's, plus a per-thread record of the largest single
//! allocation while a closure runs, so tests can prove a reader allocates no more than its input
//! justifies (a header may claim gigabytes; Linux would hand out the pages lazily and hide it).
// A `GlobalAlloc` is unsafe by definition; this one only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to [`System`], noting sizes on threads that are watching.
pub struct WatchingAllocator;

thread_local! {
    /// `Some(largest so far)` while this thread is watching.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note(size: usize) {
    // `try_with`: during thread teardown the slot may be gone; a const-initialised `Cell` never
    // allocates, so this cannot recurse.
    let _ = LARGEST.try_with(|largest| {
        if let Some(so_far) = largest.get()
            && size > so_far
        {
            largest.set(Some(size));
        }
    });
}

// SAFETY: every call forwards unchanged to the system allocator.
unsafe impl GlobalAlloc for WatchingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: WatchingAllocator = WatchingAllocator;

/// Runs `f` and returns its result with the largest single allocation this thread made meanwhile
/// (other threads, e.g. rayon's, are not seen).
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.set(Some(0));
    let result = f();
    let largest = LARGEST.replace(None).unwrap_or(0);
    (result, largest)
}
