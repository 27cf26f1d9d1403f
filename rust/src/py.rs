//! The PyO3 glue, and the only module that knows Python. Every call into the core releases the
//! GIL; every core error becomes a Python exception here, in `to_py`; long jobs run beside a
//! polling loop that reports progress and turns Ctrl-C into a stop within a fraction of a second.

use crate::counts::{Counter, Utf8Policy, WordCounts};
use crate::encode::{SpecialPolicy, Tokenizer, PARALLEL_MIN};
use crate::error::Error;
use crate::pretokenize::Pretokenizer;
use crate::vocab::Vocab;
use crate::{foreign, formats, Progress};
use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyList, PyString};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        // As Python's own: OSError(errno, strerror, filename), which picks the subclass
        // (FileNotFoundError, IsADirectoryError, ...) from the errno and sets `.filename`.
        Error::Io(path, io) if io.raw_os_error().is_some() => {
            let code = io.raw_os_error().unwrap_or_default();
            let strerror = io.to_string().trim_end_matches(&format!(" (os error {code})")).to_string();
            PyOSError::new_err((code, strerror, path))
        }
        Error::Io(_, io) => match io.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        Error::Interrupted => PyKeyboardInterrupt::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

type PyResult2<T> = Result<T, PyErr>;

/// The pool for `threads` workers: None means rayon's global pool (all cores). Pools are kept
/// and reused, so a call with `threads=N` does not pay for starting threads, nor find their
/// maps of long pieces empty, every time.
fn pool(threads: Option<usize>) -> PyResult2<Option<Arc<rayon::ThreadPool>>> {
    static POOLS: std::sync::Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = std::sync::Mutex::new(Vec::new());
    match threads {
        None => Ok(None),
        Some(0) => Err(PyValueError::new_err("threads must be at least 1")),
        Some(n) if n == rayon::current_num_threads() => Ok(None),
        Some(n) => {
            let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, p)) = pools.iter().find(|(k, _)| *k == n) {
                return Ok(Some(p.clone()));
            }
            let p = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(format!("cannot start {n} threads: {e}")))?;
            let p = Arc::new(p);
            pools.push((n, p.clone()));
            Ok(Some(p))
        }
    }
}

/// One list of the items of `parts`, in order. The references move: each part is left empty
/// (its length set to 0 before it is freed), so joining costs a copy of pointers, not a
/// reference count per item.
fn join_lists<'py>(py: Python<'py>, parts: Vec<Bound<'py, PyList>>) -> PyResult<Bound<'py, PyList>> {
    let total: usize = parts.iter().map(|l| l.len()).sum();
    let len = ffi::Py_ssize_t::try_from(total).map_err(|_| PyValueError::new_err("too many ids for a list"))?;
    // SAFETY: the GIL is held; `out` is new with `total` empty slots, and every part is a list
    // only this function sees. Each part's items are copied into `out` exactly once and the
    // part's length is then set to 0, so the references are owned by `out` alone and each part
    // frees its item array without touching the items.
    unsafe {
        let out = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
        let items = (*(out.as_ptr() as *mut ffi::PyListObject)).ob_item;
        crate::huge::advise_huge(items.cast(), total * std::mem::size_of::<*mut ffi::PyObject>());
        let mut at = 0usize;
        for part in &parts {
            let n = part.len();
            let src = (*(part.as_ptr() as *mut ffi::PyListObject)).ob_item;
            let dst = items.add(at);
            std::ptr::copy_nonoverlapping(src, dst, n);
            (*(part.as_ptr() as *mut ffi::PyVarObject)).ob_size = 0;
            at += n;
        }
        Ok(out.downcast_into_unchecked())
    }
}

/// A list filled in order, part after part, in place: its item array is allocated ahead
/// (`allocated` above its length, as a list keeps it) and grown by `PyMem_Realloc` when needed,
/// so a long text's ids go straight into the list it returns, with no list per part to join at
/// the end (`join_lists`: a second array of pointers, written once more; for 100 MB, a call at
/// about 4/5 of the speed of this). Its length counts only items written, so it is a valid list
/// at every step.
struct GrowingList<'py> {
    list: Bound<'py, PyList>,
}

impl<'py> GrowingList<'py> {
    /// An empty list with room for `cap` items.
    fn with_capacity(py: Python<'py>, cap: usize) -> PyResult<Self> {
        // SAFETY: the GIL is held; PyList_New(0) gives an empty list of no array, to which an
        // array from PyMem_Malloc (the allocator lists use) is given with its size.
        unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(0))?.downcast_into_unchecked::<PyList>();
            let mut out = GrowingList { list };
            out.reserve(cap)?;
            Ok(out)
        }
    }

    fn raw(&self) -> *mut ffi::PyListObject {
        self.list.as_ptr() as *mut ffi::PyListObject
    }

    /// Room for `cap` items in all (no less than the items there).
    fn reserve(&mut self, cap: usize) -> PyResult<()> {
        let cap = cap.max(1);
        // SAFETY: the GIL is held and the list is ours alone; a failed realloc leaves the old
        // array in place, so the list stays valid either way.
        unsafe {
            let raw = self.raw();
            let bytes = cap.checked_mul(std::mem::size_of::<*mut ffi::PyObject>());
            let items = match bytes {
                Some(b) if ffi::Py_ssize_t::try_from(b).is_ok() => ffi::PyMem_Realloc((*raw).ob_item.cast(), b),
                _ => std::ptr::null_mut(),
            };
            if items.is_null() {
                return Err(pyo3::exceptions::PyMemoryError::new_err(format!("no memory for a list of {cap} ids")));
            }
            crate::huge::advise_huge(items.cast(), cap * std::mem::size_of::<*mut ffi::PyObject>());
            (*raw).ob_item = items.cast();
            (*raw).allocated = cap as ffi::Py_ssize_t;
        }
        Ok(())
    }

    /// Append the ints of `ids`.
    fn extend(&mut self, tok: &CoreTokenizer, ids: &[u32]) -> PyResult<()> {
        // SAFETY: the GIL is held; after `reserve` the array has room for the new items, which
        // `fill_ints` sets (each to an owned reference, or null after a failure), and only
        // then does the length take them in (a list's dealloc skips nulls).
        unsafe {
            let raw = self.raw();
            let len = (*(raw as *mut ffi::PyVarObject)).ob_size as usize;
            let allocated = (*raw).allocated as usize;
            if len + ids.len() > allocated {
                // Not for a text's ids in room for one per byte; kept so no id is written past
                // the array whatever the caller.
                self.reserve((allocated * 2).max(len + ids.len()))?;
            }
            let filled = tok.fill_ints(self.list.py(), ids, (*raw).ob_item.add(len));
            (*(raw as *mut ffi::PyVarObject)).ob_size = (len + ids.len()) as ffi::Py_ssize_t;
            filled
        }
    }

    /// The list, its array cut to its length where more than an eighth of it is spare (as a
    /// list grows, it keeps up to that much), or left as it is where that fails.
    fn finish(mut self) -> Bound<'py, PyList> {
        let len = self.list.len();
        // SAFETY: the GIL is held; `allocated` is read only.
        let allocated = unsafe { (*self.raw()).allocated } as usize;
        if allocated - len > len / 8 {
            let _ = self.reserve(len);
        }
        self.list
    }
}

/// `op` in a scope of `pool` (None: rayon's global pool) run on this thread.
fn in_place_scope<'scope, R>(pool: Option<&rayon::ThreadPool>, op: impl FnOnce(&rayon::Scope<'scope>) -> R) -> R {
    match pool {
        Some(pool) => pool.in_place_scope(op),
        None => rayon::in_place_scope(op),
    }
}

/// `texts` cut into runs of consecutive texts of about `target` bytes (at least one text each):
/// the units of work of a batch, large enough that handing one out costs next to nothing.
fn batch_blocks(texts: &[&str], target: usize) -> Vec<std::ops::Range<usize>> {
    let mut blocks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, t) in texts.iter().enumerate() {
        bytes += t.len() + 64; // an empty text still costs a list
        if bytes >= target {
            blocks.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < texts.len() {
        blocks.push(start..texts.len());
    }
    blocks
}

/// Run `job` on a worker thread (inside `pool` if given) while this thread, without the GIL,
/// wakes every 100 ms to report progress to `callback(done, total)` and to check for Ctrl-C.
fn run_job<T: Send>(
    py: Python<'_>,
    pool: Option<&rayon::ThreadPool>,
    progress: &Progress,
    callback: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce() -> crate::Result<T> + Send,
) -> PyResult2<T> {
    py.check_signals()?; // a Ctrl-C that came while the arguments were being read
    let mut pending_err: Option<PyErr> = None;
    let result = std::thread::scope(|scope| {
        let handle = scope.spawn(move || match pool {
            Some(p) => p.install(job),
            None => job(),
        });
        loop {
            let finished = py.allow_threads(|| {
                for _ in 0..10 {
                    if handle.is_finished() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                handle.is_finished()
            });
            if finished {
                break;
            }
            if pending_err.is_none() {
                if let Err(e) = py.check_signals() {
                    progress.cancel();
                    pending_err = Some(e);
                } else if let Some(cb) = callback {
                    if let Err(e) = cb.call1((progress.done(), progress.total())) {
                        progress.cancel();
                        pending_err = Some(e);
                    }
                }
            }
        }
        handle.join().expect("worker thread panicked")
    });
    if let Some(e) = pending_err {
        return Err(e);
    }
    if let (Some(cb), true) = (callback, progress.done() > 0) {
        cb.call1((progress.done(), progress.total()))?;
    }
    result.map_err(to_py)
}

/// From this length on, a long text's ids go straight into the list it returns (`GrowingList`);
/// below it, into a list per part, joined (for 1 MB, 10-25% faster on two cores: the small
/// arrays come from the heap again and again, where a list made room for ahead is a fresh
/// mapping every time). From 2 MB on, the list in place was as fast or faster: gpt2 20-30%
/// faster at 2-32 MB, o200k even at 2-4 MB; 15-40% faster at 100 MB.
const IN_PLACE_MIN: usize = 2 << 20;

/// The longest a batch holds the GIL at a stretch while other threads may wait for it
/// (CPython's default switch interval).
const GIL_TURN: Duration = Duration::from_millis(5);

/// Texts at least this long are encoded beside a polling loop, so Ctrl-C stops them.
const INTERRUPTIBLE_MIN: usize = 1 << 22;

/// How far ahead `id_list` asks for an id's slot in the table of ints, and for the int itself.
/// A slot is a miss to memory more often than not (the encoder's tables push the table of ints
/// out of the core's caches between documents), so it is asked for far ahead; the int is asked
/// for once its slot has had time to arrive.
const SLOT_AHEAD: usize = 128;
const INT_AHEAD: usize = 32;

/// Run `job` without the GIL; a long one (by `len`) beside the polling loop of `run_job`.
fn interruptible<T: Send>(py: Python<'_>, len: usize, job: impl FnOnce(&Progress) -> crate::Result<T> + Send) -> PyResult<T> {
    let progress = Progress::default();
    if len < INTERRUPTIBLE_MIN {
        return py.allow_threads(|| job(&progress)).map_err(to_py);
    }
    run_job(py, None, &progress, None, || job(&progress))
}

fn policy(allowed: Vec<String>, disallowed: Vec<String>) -> SpecialPolicy {
    SpecialPolicy { allowed, disallowed }
}

/// The compiled tokenizer; `bpe.Tokenizer` wraps it and checks arguments.
#[pyclass(module = "bpe._core", frozen, name = "CoreTokenizer")]
pub struct CoreTokenizer {
    inner: Arc<Tokenizer>,
    /// One int object per id, each made the first time its id is put in a list (null until
    /// then; each non-null pointer owns a reference): a list of ids then costs a reference count
    /// and a store per id instead of allocating (and later freeing) an int each, which was
    /// about half the time of encoding prose into lists, and the serial part of a batch. Made in
    /// order of first use, the ints of frequent tokens lie close together in memory.
    ints: OnceLock<crate::huge::HugeSlice<AtomicPtr<ffi::PyObject>>>,
}

impl Drop for CoreTokenizer {
    fn drop(&mut self) {
        if let Some(ints) = self.ints.take() {
            Python::with_gil(|py| {
                for p in ints.iter().map(|p| p.load(Ordering::Relaxed)).filter(|p| !p.is_null()) {
                    // SAFETY: each non-null pointer holds one reference, given back here once.
                    drop(unsafe { Bound::<PyAny>::from_owned_ptr(py, p) });
                }
            });
        }
    }
}

impl CoreTokenizer {
    fn wrap(tok: Tokenizer) -> Self {
        CoreTokenizer { inner: Arc::new(tok), ints: OnceLock::new() }
    }

    /// `ids` as a Python list of ints.
    fn id_list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        let len = ffi::Py_ssize_t::try_from(ids.len()).map_err(|_| PyValueError::new_err("too many ids for a list"))?;
        // SAFETY: the GIL is held; PyList_New gives a list of `len` empty slots, which
        // `fill_ints` fills before the list is seen by anything else.
        unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
            // A long list's array on huge pages (see `advise_huge`); nothing for a short one.
            let items = (*(list.as_ptr() as *mut ffi::PyListObject)).ob_item;
            crate::huge::advise_huge(items.cast(), ids.len() * std::mem::size_of::<*mut ffi::PyObject>());
            self.fill_ints(py, ids, items)?;
            Ok(list.downcast_into_unchecked())
        }
    }

    /// Set `items[i]` to an owned reference to the int `ids[i]`, for every i; after a failure
    /// (no memory for an int), the slots not set are null.
    ///
    /// # Safety
    /// The GIL is held and `items` has room for `ids.len()` pointers that nothing else reads
    /// meanwhile (any references they held are overwritten, not released).
    unsafe fn fill_ints(&self, py: Python<'_>, ids: &[u32], items: *mut *mut ffi::PyObject) -> PyResult<()> {
        let ints = self.ints.get_or_init(|| {
            crate::huge::HugeSlice::from_fn(self.inner.n_vocab(), |_| AtomicPtr::new(std::ptr::null_mut()))
        });
        // Ask for the slot of the id at `i` (none past the end).
        #[cfg(target_arch = "x86_64")]
        let ask_slot = |i: usize| {
            if let Some(slot) = ids.get(i).and_then(|&a| ints.get(a as usize)) {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (slot as *const AtomicPtr<ffi::PyObject>).cast(),
                );
            }
        };
        // The first slots are asked for before the loop, which asks for the rest in turn.
        #[cfg(target_arch = "x86_64")]
        (0..SLOT_AHEAD.min(ids.len())).for_each(ask_slot);
        for (i, &id) in ids.iter().enumerate() {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                ask_slot(i + SLOT_AHEAD);
                if let Some(slot) = ids.get(i + INT_AHEAD).and_then(|&a| ints.get(a as usize)) {
                    _mm_prefetch::<_MM_HINT_T0>(slot.load(Ordering::Relaxed).cast::<i8>());
                }
            }
            let item = match ints.get(id as usize).map(|p| (p, p.load(Ordering::Relaxed))) {
                Some((_, int)) if !int.is_null() => {
                    ffi::Py_INCREF(int);
                    int
                }
                // First use: make the int and keep a reference in the cache (the GIL keeps
                // any other thread from filling the slot meanwhile).
                Some((slot, _)) => {
                    let int = ffi::PyLong_FromUnsignedLong(id.into());
                    if !int.is_null() {
                        ffi::Py_INCREF(int);
                        slot.store(int, Ordering::Relaxed);
                    }
                    int
                }
                None => ffi::PyLong_FromUnsignedLong(id.into()),
            };
            *items.add(i) = item;
            if item.is_null() {
                std::ptr::write_bytes(items.add(i), 0, ids.len() - i);
                return Err(PyErr::fetch(py));
            }
        }
        Ok(())
    }

    /// A long text on all cores: cut at safe points, the parts encoded as a batch (so turning
    /// ids into ints overlaps the encoding), straight into one list (below `IN_PLACE_MIN`, a
    /// list per part, joined). None where that does not apply (on one core, turning each
    /// part's ids into ints in turn, between the parts, was slower than all at the end: 4-20%
    /// on 1 MB).
    fn encode_long<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Option<Bound<'py, PyList>>> {
        if text.len() < PARALLEL_MIN || rayon::current_num_threads() < 2 {
            return Ok(None);
        }
        let chunks = py.allow_threads(|| self.inner.safe_chunks(text, PARALLEL_MIN / 4));
        if chunks.len() < 2 {
            return Ok(None);
        }
        // Room for one id per byte, the most there can be, so the array never moves (only the
        // pages written are ever backed by memory; the rest is given back at the end). Where
        // that much address space is refused, a list per part, joined, as for a shorter text.
        let room = (text.len() >= IN_PLACE_MIN).then(|| GrowingList::with_capacity(py, text.len()).ok()).flatten();
        let Some(mut out) = room else {
            let lists = self.encode_lists(py, &chunks, &SpecialPolicy::default(), None)?;
            return Ok(Some(join_lists(py, lists)?));
        };
        // Parts come back in any order; each goes into the list once those before it are in.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        self.encode_each(py, &chunks, &SpecialPolicy::default(), None, &mut |i, ids| {
            waiting.insert(i, ids);
            while let Some(ids) = waiting.remove(&next) {
                out.extend(self, &ids)?;
                next += 1;
            }
            Ok(())
        })?;
        Ok(Some(out.finish()))
    }

    /// Encode many texts on `threads` threads (see `encode_each`); one list of ids per text.
    fn encode_lists<'py>(
        &self,
        py: Python<'py>,
        texts: &[&str],
        p: &SpecialPolicy,
        threads: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyList>>> {
        let mut lists: Vec<Option<Bound<'py, PyList>>> = (0..texts.len()).map(|_| None).collect();
        self.encode_each(py, texts, p, threads, &mut |i, ids| {
            lists[i] = Some(self.id_list(py, &ids)?);
            Ok(())
        })?;
        Ok(lists.into_iter().map(|l| l.expect("every text was encoded")).collect())
    }

    /// Encode many texts on `threads` threads in all: this one and `threads - 1` workers, and
    /// give each text's ids, with the text's index, to `sink` (on this thread, with the GIL, in
    /// the order they are finished). Texts are handed out in blocks of a few KB from a shared
    /// counter; this thread gives finished blocks to `sink` (making ints, the one part that
    /// needs the GIL) whenever there are some, and encodes a block itself (without the GIL)
    /// when there are none, so no core is shared by two busy threads and none waits.
    fn encode_each(
        &self,
        py: Python<'_>,
        texts: &[&str],
        p: &SpecialPolicy,
        threads: Option<usize>,
        sink: &mut dyn FnMut(usize, Vec<u32>) -> PyResult<()>,
    ) -> PyResult<()> {
        use std::sync::atomic::AtomicUsize;
        use std::sync::mpsc;
        type Block = (std::ops::Range<usize>, Vec<crate::Result<Vec<u32>>>);
        let threads = threads.unwrap_or_else(rayon::current_num_threads);
        let workers = match threads {
            0 => return Err(PyValueError::new_err("threads must be at least 1")),
            1 => None,
            n => Some(pool(Some(n - 1))?),
        };
        let progress = Progress::default();
        let blocks = batch_blocks(texts, 8 << 10);
        let next = AtomicUsize::new(0);
        let (inner, blocks, progress) = (&*self.inner, &blocks, &progress);
        let take = || blocks.get(next.fetch_add(1, Ordering::Relaxed)).filter(|_| !progress.cancelled());
        let encode = |r: &std::ops::Range<usize>| -> Block {
            (r.clone(), texts[r.clone()].iter().map(|t| inner.encode_in(t, p, progress)).collect())
        };

        let mut failure: Option<PyErr> = None;
        let mut convert = |(range, results): Block, failure: &mut Option<PyErr>| {
            for (i, ids) in range.zip(results) {
                if failure.is_some() {
                    return;
                }
                if let Err(e) = ids.map_err(to_py).and_then(|ids| sink(i, ids)) {
                    progress.cancel();
                    *failure = Some(e);
                }
            }
        };
        let (tx, rx) = mpsc::channel::<Block>();
        let rx = std::sync::Mutex::new(rx); // only this thread reads it; the lock makes it Sync
        // This thread's part: turn finished blocks into lists, or encode one when none is ready.
        let mut run_here = || {
            let mut last_check = std::time::Instant::now();
            // When the GIL was last let go.
            let mut held_since = std::time::Instant::now();
            loop {
                let ready = rx.lock().unwrap().try_recv(); // the guard must not outlive this line
                match ready {
                    Ok(block) => {
                        convert(block, &mut failure);
                        // While the workers keep finishing blocks, this thread converts one after
                        // another with the GIL: let other Python threads have it at least as often
                        // as CPython's own switch interval would (a thread that has waited that
                        // long is handed the GIL when it is let go).
                        if held_since.elapsed() >= GIL_TURN {
                            py.allow_threads(|| ());
                            held_since = std::time::Instant::now();
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => {
                        // Nothing finished: encode a block here, or wait for the workers' last ones.
                        let own = if failure.is_none() { take() } else { None };
                        let got = match own {
                            Some(r) => Ok(py.allow_threads(|| encode(r))),
                            None => py.allow_threads(|| rx.lock().unwrap().recv_timeout(Duration::from_millis(100))),
                        };
                        held_since = std::time::Instant::now();
                        match got {
                            Ok(block) => convert(block, &mut failure),
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                            Err(mpsc::RecvTimeoutError::Timeout) => {}
                        }
                    }
                    Err(mpsc::TryRecvError::Disconnected) => {
                        // The workers are done; any blocks left are this thread's.
                        match take() {
                            Some(r) if failure.is_none() => {
                                let block = py.allow_threads(|| encode(r));
                                held_since = std::time::Instant::now();
                                convert(block, &mut failure)
                            }
                            _ => break,
                        }
                    }
                }
                if last_check.elapsed() >= Duration::from_millis(100) {
                    last_check = std::time::Instant::now();
                    if let Err(e) = py.check_signals() {
                        progress.cancel();
                        failure.get_or_insert(e);
                    }
                }
            }
        };
        match workers {
            // The workers' loops are tasks of a scope that this thread runs in place: no thread
            // is started per call (that, and waking a helper to wait in `broadcast`, cost about
            // 0.1 ms a call, a few per cent of encoding a MB on two cores).
            Some(pool) => {
                in_place_scope(pool.as_deref(), |s| {
                    let n = pool.as_ref().map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
                    for _ in 0..n {
                        let tx = tx.clone();
                        s.spawn(move |_| {
                            while let Some(r) = take() {
                                if tx.send(encode(r)).is_err() {
                                    return;
                                }
                            }
                        });
                    }
                    // The channel closes once every worker has dropped its clone.
                    drop(tx);
                    run_here();
                })
            }
            None => {
                drop(tx);
                run_here();
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[pymethods]
impl CoreTokenizer {
    /// Build from ordinary tokens (index = id) and special tokens (text, id).
    #[staticmethod]
    fn from_ranked(tokens: Vec<Vec<u8>>, specials: Vec<(String, u32)>, pattern: &str, source: &str) -> PyResult<Self> {
        let pre = Pretokenizer::new(pattern).map_err(to_py)?;
        let vocab = Vocab::new(tokens, specials, source).map_err(to_py)?;
        Ok(CoreTokenizer::wrap(Tokenizer::new(vocab, pre).map_err(to_py)?))
    }

    /// A tiktoken rank file; `specials_for(n)` gives the special tokens (a list of (text, id))
    /// of a file of `n` ordinary tokens.
    #[staticmethod]
    fn from_tiktoken_file(py: Python<'_>, path: PathBuf, pattern: &str, specials_for: Bound<'_, PyAny>) -> PyResult<Self> {
        let source = path.display().to_string();
        let ranks = py
            .allow_threads(|| std::fs::read(&path).map_err(|e| Error::io(&path, e)).and_then(|t| foreign::parse_tiktoken(&t, &source)))
            .map_err(to_py)?;
        let specials: Vec<(String, u32)> = specials_for.call1((ranks.tokens.len(),))?.extract()?;
        let tok = py.allow_threads(|| foreign::from_tiktoken_ranks(ranks, specials, pattern, &source)).map_err(to_py)?;
        Ok(CoreTokenizer::wrap(tok))
    }

    /// GPT-2's own `encoder.json` and `vocab.bpe`.
    #[staticmethod]
    fn from_gpt2_files(py: Python<'_>, encoder_json: PathBuf, vocab_bpe: PathBuf, pattern: &str) -> PyResult<Self> {
        let tok = py.allow_threads(|| {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| Error::io(p, e));
            let (encoder, merges) = (read(&encoder_json)?, read(&vocab_bpe)?);
            let (e_src, m_src) = (encoder_json.display().to_string(), vocab_bpe.display().to_string());
            foreign::from_gpt2(&encoder, &merges, &e_src, &m_src, pattern)
        });
        Ok(CoreTokenizer::wrap(tok.map_err(to_py)?))
    }

    /// A HF `tokenizer.json` with a BPE model. `settings(rest)` is given the document without
    /// the vocabulary and merges, as JSON text; it checks the settings and returns the pattern,
    /// `ignore_merges` and the added tokens (a list of (text, id)).
    #[staticmethod]
    fn from_huggingface_file(py: Python<'_>, path: PathBuf, settings: Bound<'_, PyAny>) -> PyResult<Self> {
        let source = path.display().to_string();
        let doc = py.allow_threads(|| std::fs::read(&path)).map_err(|e| to_py(Error::io(&path, e)))?;
        let (model, rest) = py.allow_threads(|| foreign::split_huggingface(&doc, &source)).map_err(to_py)?;
        let (pattern, ignore_merges, added): (String, bool, Vec<(String, u32)>) = settings.call1((rest,))?.extract()?;
        let tok = py.allow_threads(|| foreign::from_hf_model(model, added, &pattern, ignore_merges, &source)).map_err(to_py)?;
        Ok(CoreTokenizer::wrap(tok))
    }

    #[staticmethod]
    fn from_bpe_text(py: Python<'_>, text: &str, source: &str) -> PyResult<Self> {
        let tok = py.allow_threads(|| formats::from_bpe_text(text, source)).map_err(to_py)?;
        Ok(CoreTokenizer::wrap(tok))
    }

    fn to_bpe_text(&self, py: Python<'_>) -> PyResult<String> {
        py.allow_threads(|| formats::to_bpe_text(&self.inner)).map_err(to_py)
    }

    /// The ordinary tokens' bytes, in id order (for pickling and exports).
    fn ranked_tokens<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner.vocab.tokens.iter().map(|t| PyBytes::new(py, t)).collect()
    }

    /// The ordinary tokens in GPT-2's byte-level spelling, by id, and a HF merge list.
    fn hf_spelling(&self, py: Python<'_>) -> (Vec<String>, Vec<String>) {
        py.allow_threads(|| foreign::hf_spelling(&self.inner.vocab))
    }

    fn merges(&self, py: Python<'_>) -> PyResult<Vec<(u32, u32)>> {
        py.allow_threads(|| self.inner.vocab.merges()).map_err(to_py)
    }

    #[getter]
    fn n_vocab(&self) -> usize {
        self.inner.n_vocab()
    }

    #[getter]
    fn pattern(&self) -> &str {
        self.inner.pre.pattern()
    }

    #[getter]
    fn specials(&self) -> Vec<(String, u32)> {
        self.inner.vocab.specials.clone()
    }

    /// sha256 over the pattern, the special tokens and every token's bytes.
    fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let v = &self.inner.vocab;
        let mut h = Sha256::new();
        h.update(self.inner.pre.pattern().as_bytes());
        h.update([0]);
        for (text, id) in &v.specials {
            h.update(id.to_le_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        for t in &v.tokens {
            h.update((t.len() as u64).to_le_bytes());
            h.update(t);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn pieces(&self, py: Python<'_>, text: &str) -> PyResult<Vec<String>> {
        py.allow_threads(|| self.inner.pre.pieces(text).map(|v| v.into_iter().map(String::from).collect()))
            .map_err(to_py)
    }

    fn encode_ordinary<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
        if let Some(list) = self.encode_long(py, text)? {
            return Ok(list);
        }
        let tok = &self.inner;
        let ids = interruptible(py, text.len(), |p| tok.encode_ordinary_in(text, p))?;
        self.id_list(py, &ids)
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (tok, p) = (&self.inner, policy(allowed, disallowed));
        // A long text with no special token allowed is checked here once; it is then ordinary.
        let checked = p.allowed.is_empty() && text.len() >= PARALLEL_MIN;
        if checked {
            py.allow_threads(|| tok.check_disallowed(text, &p)).map_err(to_py)?;
            if let Some(list) = self.encode_long(py, text)? {
                return Ok(list);
            }
        }
        let ids = interruptible(py, text.len(), |pr| {
            if checked {
                tok.encode_ordinary_in(text, pr)
            } else {
                tok.encode_in(text, &p, pr)
            }
        })?;
        self.id_list(py, &ids)
    }

    fn encode_bytes<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let ids = py.allow_threads(|| self.inner.encode_bytes(data)).map_err(to_py)?;
        self.id_list(py, &ids)
    }

    fn count(&self, py: Python<'_>, text: &str, allowed: Vec<String>, disallowed: Vec<String>) -> PyResult<usize> {
        let (tok, p) = (&self.inner, policy(allowed, disallowed));
        interruptible(py, text.len(), |pr| tok.count_in(text, &p, pr))
    }

    /// The ids as little-endian bytes of `width` (2 or 4) each, for numpy.frombuffer.
    fn encode_packed<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        width: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (tok, p) = (&self.inner, policy(allowed, disallowed));
        let packed = interruptible(py, text.len(), |pr| tok.encode_in(text, &p, pr).map(|ids| pack(&ids, width)))?;
        Ok(PyBytes::new(py, &packed))
    }

    /// Encode many texts on `threads` threads (default: all cores); one list of ids per text.
    #[pyo3(signature = (texts, allowed, disallowed, threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        // The texts' own UTF-8, borrowed (str objects are immutable, and `texts` keeps them
        // alive until the end): copying them all first was a serial pass over the batch.
        let texts: Vec<&str> = texts.iter().map(|t| t.to_str()).collect::<PyResult<_>>()?;
        let lists = self.encode_lists(py, &texts, &policy(allowed, disallowed), threads)?;
        PyList::new(py, lists)
    }

    fn decode_bytes<'py>(&self, py: Python<'py>, ids: Vec<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.allow_threads(|| self.inner.decode_bytes(&ids)).map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The id of the ordinary token whose bytes are `bytes`, or None.
    fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.inner.vocab.token_id(bytes)
    }

    fn token_bytes<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.inner.vocab.token_bytes(id).map_err(to_py)?;
        Ok(PyBytes::new(py, bytes))
    }

    fn save_bpe(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| formats::to_bpe_text(&self.inner).and_then(|t| formats::write_atomic(&path, t.as_bytes())))
            .map_err(to_py)
    }

    /// Encode each file as one document followed by `eot`, writing shards of about
    /// `shard_tokens` ids. Returns the shard paths and token counts, and notes (files skipped).
    #[pyo3(signature = (paths, out_dir, shard_tokens, eot, fingerprint, strict=false, threads=None, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn write_shards(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        out_dir: PathBuf,
        shard_tokens: usize,
        eot: Option<u32>,
        fingerprint: String,
        strict: bool,
        threads: Option<usize>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<crate::shards::Written> {
        let progress = Progress::default();
        let total: u64 = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        progress.start(total);
        let pool = pool(threads)?;
        let tok = self.inner.clone();
        let policy = if strict { Utf8Policy::Strict } else { Utf8Policy::Replace };
        run_job(py, pool.as_deref(), &progress, callback.as_ref(), || {
            crate::shards::write_shards(&tok, &paths, &out_dir, shard_tokens, eot, &fingerprint, policy, &progress)
        })
    }
}

fn pack(ids: &[u32], width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * width);
    if width == 2 {
        for &id in ids {
            out.extend_from_slice(&(id as u16).to_le_bytes());
        }
    } else {
        for &id in ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    out
}

/// Word counts, with the pattern that made them; `bpe.WordCounts` wraps it.
#[pyclass(module = "bpe._core", name = "CoreCounts")]
pub struct CoreCounts {
    inner: Arc<WordCounts>,
    pattern: String,
    /// Warnings from counting, to show once.
    warnings: Vec<String>,
}

#[pymethods]
impl CoreCounts {
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8], source: &str) -> PyResult<Self> {
        let (counts, pattern) = py.allow_threads(|| WordCounts::from_file_bytes(data, source)).map_err(to_py)?;
        Pretokenizer::new(&pattern).map_err(|e| to_py(Error::Format(source.into(), 0, e.to_string())))?;
        Ok(CoreCounts { inner: Arc::new(counts), pattern, warnings: vec![] })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = py.allow_threads(|| self.inner.to_file_bytes(&self.pattern));
        PyBytes::new(py, &data)
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| formats::write_atomic(&path, &self.inner.to_file_bytes(&self.pattern))).map_err(to_py)
    }

    fn add(&self, py: Python<'_>, other: &CoreCounts) -> PyResult<CoreCounts> {
        if self.pattern != other.pattern {
            return Err(PyValueError::new_err(format!(
                "cannot add counts made with different patterns ({:?} and {:?})",
                self.pattern, other.pattern
            )));
        }
        let (a, b) = ((*self.inner).clone(), (*other.inner).clone());
        let sum = py.allow_threads(|| a.merge(b)).map_err(to_py)?;
        Ok(CoreCounts { inner: Arc::new(sum), pattern: self.pattern.clone(), warnings: vec![] })
    }

    #[getter]
    fn pattern(&self) -> &str {
        &self.pattern
    }

    #[getter]
    fn n_words(&self) -> usize {
        self.inner.words.len()
    }

    #[getter]
    fn n_bytes(&self) -> u64 {
        self.inner.bytes
    }

    #[getter]
    fn replaced(&self) -> u64 {
        self.inner.replaced
    }

    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn most_common<'py>(&self, py: Python<'py>, n: usize) -> Vec<(Bound<'py, PyBytes>, u64)> {
        let mut top: Vec<&(Vec<u8>, u64)> = self.inner.words.iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.into_iter().take(n).map(|(w, c)| (PyBytes::new(py, w), *c)).collect()
    }
}

fn count_result(counter: Counter<'_>, pool: Option<&rayon::ThreadPool>, py: Python<'_>, pattern: &str) -> CoreCounts {
    let replaced = counter.replaced.load(std::sync::atomic::Ordering::Relaxed);
    let mut warnings = std::mem::take(&mut *counter.warnings.lock().unwrap());
    if replaced > 0 {
        warnings.push(format!("{replaced} invalid UTF-8 sequence(s) were replaced by U+FFFD"));
    }
    let counts = py.allow_threads(|| match pool {
        Some(p) => p.install(|| counter.finish()),
        None => counter.finish(),
    });
    CoreCounts { inner: Arc::new(counts), pattern: pattern.to_string(), warnings }
}

/// Count the pieces of files, read and split in Rust on all threads.
#[pyfunction]
#[pyo3(signature = (paths, pattern, threads=None, strict=false, callback=None))]
fn count_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    pattern: &str,
    threads: Option<usize>,
    strict: bool,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<CoreCounts> {
    let pre = Pretokenizer::new(pattern).map_err(to_py)?;
    for p in &paths {
        if p.is_dir() {
            return Err(PyIsADirectoryError::new_err(format!("{}: is a directory, not a file", p.display())));
        }
        std::fs::metadata(p).map_err(|e| to_py(Error::io(p, e)))?;
    }
    let pool = pool(threads)?;
    let progress = Progress::default();
    progress.start(paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum());
    let policy = if strict { Utf8Policy::Strict } else { Utf8Policy::Replace };
    let counter = Counter::new(&pre, policy, &progress);
    run_job(py, pool.as_deref(), &progress, callback.as_ref(), || counter.add_files(&paths))?;
    Ok(count_result(counter, pool.as_deref(), py, pre.pattern()))
}

/// Count the pieces of an iterator of str, pulled in batches of about 8 MB and counted without
/// the GIL.
#[pyfunction]
#[pyo3(signature = (texts, pattern, threads=None, callback=None))]
fn count_texts(
    py: Python<'_>,
    texts: Bound<'_, PyAny>,
    pattern: &str,
    threads: Option<usize>,
    callback: Option<Bound<'_, PyAny>>,
) -> PyResult<CoreCounts> {
    let pre = Pretokenizer::new(pattern).map_err(to_py)?;
    let pool = pool(threads)?;
    let progress = Progress::default();
    let counter = Counter::new(&pre, Utf8Policy::Replace, &progress);
    let iter = PyIterator::from_object(&texts)?;
    let mut batch: Vec<String> = Vec::new();
    let mut size = 0usize;
    let flush = |batch: &mut Vec<String>| -> PyResult<()> {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        py.allow_threads(|| match &pool {
            Some(p) => p.install(|| counter.add_texts(&refs)),
            None => counter.add_texts(&refs),
        })
        .map_err(to_py)?;
        batch.clear();
        py.check_signals()?;
        if let Some(cb) = &callback {
            cb.call1((progress.done(), 0u64))?;
        }
        Ok(())
    };
    for (i, item) in iter.enumerate() {
        let item = item?;
        if !item.is_instance_of::<pyo3::types::PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "item {i} of the texts is a {}, not a str",
                item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            )));
        }
        // A str with lone surrogates is not UTF-8: they become U+FFFD, as tiktoken does.
        let text: String = match item.extract() {
            Ok(t) => t,
            Err(_) => item
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?
                .extract()?,
        };
        size += text.len();
        batch.push(text);
        if size >= 8 << 20 {
            flush(&mut batch)?;
            size = 0;
        }
    }
    flush(&mut batch)?;
    Ok(count_result(counter, pool.as_deref(), py, pre.pattern()))
}

/// Learn merges from counts. Returns (tokenizer, merges learned, corpus tokens under the new
/// vocabulary).
#[pyfunction]
#[pyo3(signature = (counts, vocab_size, specials, threads=None, callback=None, consume=false))]
#[allow(clippy::too_many_arguments)]
fn train_counts(
    py: Python<'_>,
    mut counts: PyRefMut<'_, CoreCounts>,
    vocab_size: usize,
    specials: Vec<String>,
    threads: Option<usize>,
    callback: Option<Bound<'_, PyAny>>,
    consume: bool,
) -> PyResult<(CoreTokenizer, usize, u64)> {
    crate::check_vocab_size(vocab_size, &specials).map_err(to_py)?;
    if counts.inner.bytes == 0 || counts.inner.words.is_empty() {
        return Err(PyValueError::new_err("the corpus is empty: there is no text to train on"));
    }
    let pre = Pretokenizer::new(&counts.pattern).map_err(to_py)?;
    let pool = pool(threads)?;
    let progress = Progress::default();
    let words = if consume {
        // The caller is done with these counts: hand them over, so training can free them.
        let taken = std::mem::take(&mut counts.inner);
        Cow::Owned(Arc::try_unwrap(taken).unwrap_or_else(|shared| (*shared).clone()))
    } else {
        Cow::Borrowed(&*counts.inner)
    };
    let progress_ref = &progress;
    let (tok, n, tokens) = run_job(py, pool.as_deref(), &progress, callback.as_ref(), move || {
        crate::train_tokenizer(words, vocab_size, &specials, pre, progress_ref)
    })?;
    Ok((CoreTokenizer::wrap(tok), n, tokens))
}

/// Check a vocabulary size against the special tokens, as training would.
#[pyfunction]
fn check_vocab_size(vocab_size: usize, specials: Vec<String>) -> PyResult<()> {
    crate::check_vocab_size(vocab_size, &specials).map_err(to_py)
}

/// The regex text of a built-in pattern name (or the argument itself if it is none).
#[pyfunction]
fn resolve_pattern(name: &str) -> String {
    crate::pretokenize::resolve_pattern(name).to_string()
}

/// Write `data` to `path` atomically (a temporary file beside it, synced, then renamed over it),
/// with the mode of any new file: as `.bpe` and `.counts` files are written.
#[pyfunction]
fn write_atomic(py: Python<'_>, path: PathBuf, data: &[u8]) -> PyResult<()> {
    py.allow_threads(|| formats::write_atomic(&path, data)).map_err(to_py)
}

/// Forget the pieces cached so far, in every vocabulary and thread: the next texts encode as at
/// first sight.
#[pyfunction]
fn clear_piece_caches() {
    crate::vocab::clear_piece_caches();
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CoreTokenizer>()?;
    m.add_class::<CoreCounts>()?;
    m.add_function(wrap_pyfunction!(count_files, m)?)?;
    m.add_function(wrap_pyfunction!(count_texts, m)?)?;
    m.add_function(wrap_pyfunction!(train_counts, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(check_vocab_size, m)?)?;
    m.add_function(wrap_pyfunction!(clear_piece_caches, m)?)?;
    m.add_function(wrap_pyfunction!(write_atomic, m)?)?;
    m.add("MAX_VOCAB", crate::MAX_VOCAB)?;
    Ok(())
}
