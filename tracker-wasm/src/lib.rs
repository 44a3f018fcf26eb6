//! The beacon that runs in shoppers' browsers.
//!
//! Split by what the browser can afford: `loader.js` (1.5 KB gzip)
//! reads the page and moves bytes; this module decides everything — store
//! scope, which events exist, what is personal and dropped, the JSON on the
//! wire, the bounded queue and its batches. It is `no_std` with no heap:
//! fixed buffers ([`beacon::Beacon`]), JSON written by hand ([`json`]),
//! panics that trap instead of formatting. That keeps `core::fmt`, an
//! allocator and std's panic machinery out of the Wasm, which is most of
//! what a Rust beacon would otherwise weigh.
//!
//! The exports take and return numbers only; strings cross through the
//! [`io`] buffer. So the module needs no imports and no generated JS glue:
//! wasm-bindgen builds it, the loader instantiates it.

#![cfg_attr(target_arch = "wasm32", no_std)]

pub mod beacon;
pub mod json;
pub mod queue;

use core::cell::UnsafeCell;

use beacon::Beacon;
use wasm_bindgen::prelude::*;

/// The one beacon of this page. Wasm in a page is single-threaded and the
/// exports never re-enter, so a plain cell is enough.
struct Page(UnsafeCell<Beacon>);

// SAFETY: wasm32 without threads; nothing else can reach it.
unsafe impl Sync for Page {}

static PAGE: Page = Page(UnsafeCell::new(Beacon::new()));

fn beacon() -> &'static mut Beacon {
    // SAFETY: see `Page`; each export takes the reference once and drops it
    // before returning.
    unsafe { &mut *PAGE.0.get() }
}

/// Address of the input/output buffer in linear memory.
#[wasm_bindgen]
pub fn io() -> usize {
    beacon().io.as_ptr() as usize
}

/// Runs one operation ([`beacon::op`]) on `len` bytes of input.
#[wasm_bindgen]
pub fn on(op: u32, len: usize) -> u32 {
    beacon().on(op, len)
}

/// Cuts the next batch into the buffer; its length, or 0.
#[wasm_bindgen]
pub fn batch() -> usize {
    beacon().batch()
}

/// Reports the last batch: 1 delivered (or undeliverable), 0 retry later.
#[wasm_bindgen]
pub fn done(delivered: u32) {
    beacon().done(delivered != 0)
}

/// Counts an error the loader caught.
#[wasm_bindgen]
pub fn oops() {
    beacon().oops()
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // A trap: the loader's try/catch counts it. No message, so no `core::fmt`.
    core::arch::wasm32::unreachable()
}

/// wasm-bindgen links `alloc`, so an allocator must exist; the beacon never
/// allocates, and one that always fails proves it: any allocation would
/// trap at once (and tests would see it) instead of pulling in a heap.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static NO_HEAP: NoHeap = NoHeap;

#[cfg(target_arch = "wasm32")]
struct NoHeap;

#[cfg(target_arch = "wasm32")]
// SAFETY: returning null is the documented way to report failure.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}
