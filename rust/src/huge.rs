//! Large tables on huge pages.
//!
//! The encoder's tables (token ids, pair ids, the ids of characters merged alone: more than 10 MB
//! for o200k) are read at random, a cache line here and there. On 4 KB pages each such read also
//! needs its own entry in the TLB, which covers about 8 MB at that page size, so lookups walk the
//! page table as well. Where the kernel hands out transparent huge pages only on request (the
//! common `madvise` setting), these tables ask for them: a table of 1 MB or more is placed at a
//! 2 MB boundary, its size rounded up to whole 2 MB pages, and marked with
//! `madvise(MADV_HUGEPAGE)` before anything touches it, so its pages are huge from the first
//! fault. Where huge pages are off, or on other systems, the advice is refused or absent and the
//! tables are ordinary blocks. Only these tables do this: rounding every large block up (as a
//! global allocator would) costs training tens of MB of peak memory.

use std::alloc::Layout;
use std::ptr::NonNull;

/// A huge page, on x86-64 and the usual arm64 kernels.
const PAGE: usize = 2 << 20;
/// Tables this large or larger go on huge pages.
const MIN: usize = 1 << 20;

/// The layout a block of `l` really has: `l` itself, or for a large block, whole huge pages at a
/// huge-page boundary. The same `l` always gives the same answer, so a block is freed with the
/// layout it was allocated with.
#[inline]
fn placed(l: Layout) -> Layout {
    if l.size() < MIN {
        return l;
    }
    match l.size().checked_add(PAGE - 1).map(|s| Layout::from_size_align(s & !(PAGE - 1), l.align().max(PAGE))) {
        Some(Ok(p)) => p,
        _ => l,
    }
}

/// A block for `l` (of non-zero size), on huge pages where `placed` makes it large; untouched.
fn allocate(l: Layout) -> Option<NonNull<u8>> {
    let p = placed(l);
    // SAFETY: `p` has a non-zero size (at least `l`'s).
    let ptr = NonNull::new(unsafe { std::alloc::alloc(p) })?;
    #[cfg(target_os = "linux")]
    if p.align() >= PAGE {
        // SAFETY: [ptr, ptr + size) is the block just allocated, aligned to a page; the advice
        // changes no data, and a refusal (huge pages off, an old kernel) leaves an ordinary block.
        unsafe {
            libc::madvise(ptr.as_ptr().cast(), p.size(), libc::MADV_HUGEPAGE);
        }
    }
    Some(ptr)
}

/// Free a block that `allocate(l)` gave.
///
/// # Safety
/// `ptr` must come from `allocate(l)` with this same `l`, and not be freed yet.
unsafe fn release(ptr: NonNull<u8>, l: Layout) {
    std::alloc::dealloc(ptr.as_ptr(), placed(l))
}

/// Ask for huge pages under the whole 2 MB pages of a block someone else allocated and nothing
/// has touched yet (a fresh `calloc` of many MB is mapped, not written), so the writes that
/// fill it fault in 2 MB at a time instead of 4 KB: the array of a list of 28 million ids is
/// 230 MB, 56,000 small faults. Only advice: the data and the block's owner are unchanged.
#[cfg(feature = "python")]
pub(crate) fn advise_huge(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = (ptr as usize).next_multiple_of(PAGE);
        let end = (ptr as usize).saturating_add(len) & !(PAGE - 1);
        if end > start {
            // SAFETY: [start, end) lies inside the caller's block and is page-aligned; the advice
            // changes no data, and a refusal leaves ordinary pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// A fixed-length table, on huge pages when it is large.
pub(crate) struct HugeSlice<T> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a HugeSlice owns its elements as a Box<[T]> would.
unsafe impl<T: Send> Send for HugeSlice<T> {}
unsafe impl<T: Sync> Sync for HugeSlice<T> {}

impl<T> HugeSlice<T> {
    /// A table of `len` elements, element `i` being `f(i)`.
    pub(crate) fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        let layout = Layout::array::<T>(len).expect("table too large");
        let ptr = if layout.size() == 0 {
            NonNull::dangling() // zero-sized: no block
        } else {
            allocate(layout).unwrap_or_else(|| std::alloc::handle_alloc_error(placed(layout))).cast::<T>()
        };
        // Should `f` panic, what was written leaks with the block: never used memory, no UB.
        for i in 0..len {
            // SAFETY: i < len, inside the block, which holds `len` elements of T.
            unsafe { ptr.as_ptr().add(i).write(f(i)) };
        }
        HugeSlice { ptr, len }
    }

    /// A table of `len` copies of `value`.
    pub(crate) fn filled(len: usize, value: T) -> Self
    where
        T: Clone,
    {
        Self::from_fn(len, |_| value.clone())
    }
}

impl<T> std::ops::Deref for HugeSlice<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised elements (or is dangling with a zero-sized layout).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for HugeSlice<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the elements are initialised and dropped once; the block came from `allocate`
        // with this layout (nothing was allocated where the layout is zero-sized).
        unsafe {
            std::ptr::drop_in_place(&mut **self as *mut [T]);
            let layout = Layout::array::<T>(self.len).expect("checked when made");
            if layout.size() != 0 {
                release(self.ptr.cast(), layout);
            }
        }
    }
}

impl<T: Clone> Clone for HugeSlice<T> {
    fn clone(&self) -> Self {
        Self::from_fn(self.len, |i| self[i].clone())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HugeSlice(len {})", self.len)
    }
}

/// The allocator of hash maps that hold an encoder table (the pair ids).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HugePages;

// SAFETY: blocks come from `allocate` and go back through `release` with the same layout; a
// block is valid until deallocated, and copies of this allocator (it has no state) share blocks.
unsafe impl allocator_api2::alloc::Allocator for HugePages {
    fn allocate(&self, l: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        if l.size() == 0 {
            // A dangling pointer with the layout's alignment, as zero-sized blocks are.
            let dangling = NonNull::new(l.align() as *mut u8).ok_or(allocator_api2::alloc::AllocError)?;
            return Ok(NonNull::slice_from_raw_parts(dangling, 0));
        }
        let ptr = allocate(l).ok_or(allocator_api2::alloc::AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, l.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, l: Layout) {
        if l.size() != 0 {
            release(ptr, l)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator_api2::alloc::Allocator;

    #[test]
    fn large_tables_sit_on_huge_page_boundaries_and_hold_their_elements() {
        // Small tables are ordinary blocks; large ones start at a huge page.
        let small = HugeSlice::filled(1000, 7u32);
        assert!(small.iter().all(|&x| x == 7));
        assert_eq!(placed(Layout::array::<u32>(1000).unwrap()), Layout::array::<u32>(1000).unwrap());
        let n = MIN / 8 + 3; // just over MIN bytes of u64
        let big = HugeSlice::from_fn(n, |i| i as u64 * 3);
        assert_eq!(big.as_ptr() as usize % PAGE, 0);
        assert_eq!(big.len(), n);
        assert!(big.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        let copy = big.clone();
        assert_eq!(&*copy, &*big);
        assert_eq!(copy.as_ptr() as usize % PAGE, 0);
        let mut m = copy;
        m[n - 1] = 1;
        assert_eq!(m[n - 1], 1);
        assert_eq!(big[n - 1], (n as u64 - 1) * 3);

        // Elements with a destructor are dropped once each.
        let counted = std::rc::Rc::new(());
        let rcs = HugeSlice::filled(MIN / 8 + 1, counted.clone());
        assert_eq!(std::rc::Rc::strong_count(&counted), MIN / 8 + 2);
        drop(rcs);
        assert_eq!(std::rc::Rc::strong_count(&counted), 1);

        // Zero-sized elements and empty tables need no block.
        assert_eq!(HugeSlice::filled(5, ()).len(), 5);
        assert!(HugeSlice::<u64>::filled(0, 1).is_empty());

        // A layout too large to round up is passed through unchanged (for the system to refuse).
        let absurd = Layout::from_size_align(isize::MAX as usize - 100, 8).unwrap();
        assert_eq!(placed(absurd), absurd);
    }

    #[test]
    fn maps_on_huge_pages_behave_as_maps() {
        let mut m: hashbrown::HashMap<u64, u32, rustc_hash::FxBuildHasher, HugePages> =
            hashbrown::HashMap::with_capacity_and_hasher_in(200_000, Default::default(), HugePages);
        for i in 0..200_000u64 {
            m.insert(i * 7919, i as u32);
        }
        assert!((0..200_000u64).all(|i| m.get(&(i * 7919)) == Some(&(i as u32))));
        assert_eq!(m.get(&1), None);
        let z = HugePages.allocate(Layout::from_size_align(0, 64).unwrap()).unwrap();
        assert_eq!(z.cast::<u8>().as_ptr() as usize % 64, 0);
        // SAFETY: z came from this allocator with this layout.
        unsafe { HugePages.deallocate(z.cast(), Layout::from_size_align(0, 64).unwrap()) };
    }
}
