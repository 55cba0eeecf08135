//! The binary's global allocator: mimalloc, asked the way its fast paths expect.
//!
//! The `mimalloc` crate hands every allocation to `mi_malloc_aligned`, whatever the alignment.
//! mimalloc 3 serves an aligned request above 1 KiB whose size is not a power of two by
//! over-allocating and aligning inside the block (its generic path, ~220 instructions instead
//! of ~30), even when the alignment asked for is one that every mimalloc block has anyway.
//! Each HTTP/1 request's boxed exchange state (~4.7 KiB, alignment 8) paid that. Here an
//! alignment that `mi_malloc` always gives goes to `mi_malloc`, the rest to the aligned
//! functions, as before. Freeing is the same `mi_free` either way.

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment every `mi_malloc` block of at least this size has (`MI_MAX_ALIGN_SIZE`, the
/// alignment of `max_align_t`): blocks start 16-byte aligned in their page, and because
/// `MI_MAX_ALIGN_SIZE` is two words mimalloc builds with `MI_ALIGN2W`, which rounds the size
/// classes up to 64 bytes to even words (a 24-byte request gets a 32-byte block); the larger
/// classes are multiples of 16 too. Only the 8-byte class is 8-aligned, and `malloc_fits`
/// sends it nothing with a larger alignment.
const MALLOC_ALIGN: usize = 16;

/// Whether plain `mi_malloc` meets `layout`: the alignment is at most 16 bytes and no larger
/// than the size (a Rust size is a multiple of its alignment, so the block's size class is
/// too). The same rule as the standard library's `System` allocator over `malloc`.
fn malloc_fits(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

/// mimalloc as the global allocator (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

#[allow(unsafe_code)]
// SAFETY: every method forwards to the mimalloc function of the same contract (pointers come
// from and go back to mimalloc only); `malloc_fits` only picks `mi_malloc` where its blocks
// are aligned as the layout requires.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: see the impl.
        unsafe {
            if malloc_fits(align, size) {
                mi_malloc(size).cast()
            } else {
                mi_malloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: see the impl.
        unsafe {
            if malloc_fits(align, size) {
                mi_zalloc(size).cast()
            } else {
                mi_zalloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: see the impl.
        unsafe {
            if malloc_fits(align, new_size) {
                mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast::<c_void>(), new_size, align).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size and alignment class a Rust program asks for comes back aligned, whichever
    /// mimalloc function served it, and reallocation keeps the contents and the alignment.
    #[test]
    fn blocks_are_aligned_as_asked_and_realloc_keeps_contents() {
        let a = MiMalloc;
        let mut sizes: Vec<usize> = (1..=512).collect();
        sizes.extend([1000, 1024, 1100, 4096, 4704, 5000, 65_536, 70_000, 1 << 21]);
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for &size in &sizes {
                let Ok(layout) = Layout::from_size_align(size.next_multiple_of(align), align)
                else {
                    continue;
                };
                #[allow(unsafe_code)]
                // SAFETY: the layout has a non-zero size; the block is freed with it.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xA5, layout.size());
                    let grown = layout.size() * 3 + 8;
                    let q = a.realloc(p, layout, grown);
                    assert_eq!(q as usize % align, 0, "realloc: size {size} align {align}");
                    assert!((0..layout.size()).all(|i| *q.add(i) == 0xA5));
                    let grown = Layout::from_size_align(grown, align).unwrap();
                    a.dealloc(q, grown);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..layout.size()).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
