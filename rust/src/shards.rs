//! Token shards for model training: each input file is one document, encoded and followed by
//! the end-of-text token, the stream cut into `shard_NNNNNN.bin` files of little-endian ids
//! (uint16 when the vocabulary fits, else uint32), each with a `shard_NNNNNN.json` sidecar
//! giving the format, dtype, count, vocabulary size, end-of-text id and tokenizer fingerprint.
//! Every file is written atomically, so a reader never sees half a shard, and the shards of a
//! run appear only once the whole run has succeeded.

use crate::counts::{decode_block, for_each_block_batch, looks_binary, Utf8Policy, BLOCK};
use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::formats::write_atomic;
use crate::Progress;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub const SHARD_FORMAT: &str = "bpe-shard";
pub const SHARD_VERSION: u32 = 1;

/// A small file (at most `BLOCK` bytes) whole, decoded by the UTF-8 policy as blocks are; None
/// for a file that looks binary.
fn read_document(
    path: &Path,
    policy: Utf8Policy,
    replaced: &std::sync::atomic::AtomicU64,
    notes: &std::sync::Mutex<Vec<String>>,
) -> Result<Option<String>> {
    if path.is_dir() {
        return Err(Error::Value(format!("{}: is a directory, not a file", path.display())));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if looks_binary(&bytes, path, notes) {
        return Ok(None);
    }
    Ok(Some(decode_block(&bytes, path, 0, policy, replaced)?.into_owned()))
}

/// Writes ids as they come into the current shard's temporary file; a full shard's file is
/// closed and kept under its temporary name, and only when the whole run has succeeded are all
/// of them renamed to their final names, each with its sidecar (`finish`). Memory stays a write
/// buffer whatever the shard size; no reader sees half a shard; and a run that fails (a bad
/// file, Ctrl-C) leaves the shards of an earlier run as they were, not partly replaced.
struct ShardWriter<'a> {
    dir: &'a Path,
    shard_tokens: usize,
    width: usize,
    n_vocab: usize,
    eot: Option<u32>,
    fingerprint: &'a str,
    /// Full shards: their temporary paths and id counts, in order.
    full: Vec<(PathBuf, usize)>,
    /// The shard being filled: its temporary path, the open file and the ids in it so far.
    current: Option<(PathBuf, std::io::BufWriter<std::fs::File>, usize)>,
}

impl ShardWriter<'_> {
    fn stem(i: usize) -> String {
        format!("shard_{i:06}")
    }

    /// The temporary name of the next shard, hidden until `finish`.
    fn tmp_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.bin.tmp{}", Self::stem(self.full.len()), std::process::id()))
    }

    /// Add ids in order; every `shard_tokens` of them make a shard.
    fn push(&mut self, mut ids: &[u32]) -> Result<()> {
        while !ids.is_empty() {
            if self.current.is_none() {
                let tmp = self.tmp_path();
                let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                self.current = Some((tmp, std::io::BufWriter::with_capacity(1 << 20, file), 0));
            }
            let (tmp, out, count) = self.current.as_mut().expect("opened above");
            let take = ids.len().min(self.shard_tokens - *count);
            let mut bytes = Vec::with_capacity(take * self.width);
            for &id in &ids[..take] {
                if self.width == 2 {
                    bytes.extend_from_slice(&(id as u16).to_le_bytes());
                } else {
                    bytes.extend_from_slice(&id.to_le_bytes());
                }
            }
            std::io::Write::write_all(out, &bytes).map_err(|e| Error::io(tmp, e))?;
            *count += take;
            ids = &ids[take..];
            if *count == self.shard_tokens {
                self.close()?;
            }
        }
        Ok(())
    }

    /// Close the shard being filled (synced to disk, still under its temporary name); with none
    /// open, make an empty one (so an empty input still gives a readable shard).
    fn close(&mut self) -> Result<()> {
        let (tmp, count) = match self.current.take() {
            Some((tmp, out, count)) => {
                let done = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::io(&tmp, e));
                }
                (tmp, count)
            }
            None => {
                let tmp = self.tmp_path();
                std::fs::File::create(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
                (tmp, 0)
            }
        };
        self.full.push((tmp, count));
        Ok(())
    }

    /// The run succeeded: give every shard its final name and write its sidecar. Returns the
    /// shard paths and id counts.
    fn finish(&mut self) -> Result<Vec<(String, u64)>> {
        if self.current.is_some() || self.full.is_empty() {
            self.close()?;
        }
        let mut written = Vec::with_capacity(self.full.len());
        // `full` stays as it is until every shard is renamed: after a failure, `Drop` removes
        // the temporary files not renamed yet.
        for (i, (tmp, count)) in self.full.iter().enumerate() {
            let stem = Self::stem(i);
            let bin = self.dir.join(format!("{stem}.bin"));
            std::fs::rename(tmp, &bin).map_err(|e| Error::io(&bin, e))?;
            let meta = serde_json::json!({
                "format": SHARD_FORMAT,
                "version": SHARD_VERSION,
                "dtype": if self.width == 2 { "uint16" } else { "uint32" },
                "count": count,
                "n_vocab": self.n_vocab,
                "eot_token": self.eot,
                "tokenizer_fingerprint": self.fingerprint,
            });
            write_atomic(&self.dir.join(format!("{stem}.json")), format!("{meta:#}\n").as_bytes())?;
            written.push((bin.display().to_string(), *count as u64));
        }
        self.full.clear();
        Ok(written)
    }
}

impl Drop for ShardWriter<'_> {
    /// On an error or Ctrl-C, the temporary files go; the folder's earlier shards stay.
    fn drop(&mut self) {
        if let Some((tmp, _, _)) = self.current.take() {
            let _ = std::fs::remove_file(tmp);
        }
        for (tmp, _) in self.full.drain(..) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// What `write_shards` reports: each shard's path and token count, and notes (files skipped).
pub type Written = (Vec<(String, u64)>, Vec<String>);

#[allow(clippy::too_many_arguments)]
pub fn write_shards(
    tok: &Tokenizer,
    paths: &[PathBuf],
    out_dir: &Path,
    shard_tokens: usize,
    eot: Option<u32>,
    fingerprint: &str,
    policy: Utf8Policy,
    progress: &Progress,
) -> Result<Written> {
    if shard_tokens == 0 {
        return Err(Error::Value("shard_tokens must be at least 1".into()));
    }
    // Every input is looked at before the output folder is made: a missing one leaves nothing
    // behind (an empty folder, or old shards half replaced).
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err(Error::Value(format!("{}: is a directory, not a file", path.display()))),
            Ok(_) => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let n_vocab = tok.n_vocab();
    let width = if n_vocab <= 1 << 16 { 2 } else { 4 };
    let mut writer =
        ShardWriter { dir: out_dir, shard_tokens, width, n_vocab, eot, fingerprint, full: Vec::new(), current: None };
    // Small files are encoded several at a time, whole; a large one is streamed in blocks cut at
    // safe points (so memory stays a few blocks, whatever the file's size or its lack of
    // newlines), each batch of blocks encoded in parallel. The ids of one batch are written
    // while the next batch is encoded (`step`), so writing takes no core away from encoding for
    // long; a batch of small files holds about a block's worth of bytes, enough documents that
    // the threads finish it together.
    let threads = rayon::current_num_threads().max(1);
    let replaced = std::sync::atomic::AtomicU64::new(0); // reported by `bpe count`, not here
    let notes = std::sync::Mutex::new(Vec::new());
    // Ids encoded and not yet written, in order.
    let mut pending: Vec<Vec<u32>> = Vec::new();
    let step = |writer: &mut ShardWriter,
                pending: &mut Vec<Vec<u32>>,
                encode: &(dyn Fn() -> Result<Vec<Vec<u32>>> + Sync)|
     -> Result<()> {
        let done = std::mem::take(pending);
        let (wrote, next) = rayon::join(|| done.iter().try_for_each(|ids| writer.push(ids)), encode);
        wrote?;
        *pending = next?;
        Ok(())
    };
    let encode_small = |small: &mut Vec<&PathBuf>, writer: &mut ShardWriter, pending: &mut Vec<Vec<u32>>| -> Result<()> {
        if small.is_empty() {
            return Ok(());
        }
        let files = std::mem::take(small);
        step(writer, pending, &|| {
            files
                .par_iter()
                .map(|p| {
                    let Some(text) = read_document(p, policy, &replaced, &notes)? else {
                        progress.add(std::fs::metadata(p).map_or(0, |m| m.len()));
                        return Ok(Vec::new()); // skipped: no document, no end-of-text
                    };
                    let mut ids = tok.encode_ordinary_in(&text, progress)?; // adds the bytes done
                    ids.extend(eot);
                    Ok(ids)
                })
                .collect()
        })
    };
    let mut small: Vec<&PathBuf> = Vec::new();
    let mut small_bytes = 0u64;
    for path in paths {
        if progress.cancelled() {
            return Err(Error::Interrupted);
        }
        let len = std::fs::metadata(path).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
        if len <= BLOCK as u64 {
            small.push(path);
            small_bytes += len;
            if small_bytes >= BLOCK as u64 || small.len() >= threads * 64 {
                encode_small(&mut small, &mut writer, &mut pending)?;
                small_bytes = 0;
            }
            continue;
        }
        encode_small(&mut small, &mut writer, &mut pending)?; // the files before it come first
        small_bytes = 0;
        let mut first = true;
        let mut skipped = false;
        for_each_block_batch(path, &tok.pre, |blocks| {
            if progress.cancelled() {
                return Err(Error::Interrupted);
            }
            if std::mem::take(&mut first) && blocks.first().is_some_and(|(_, b)| looks_binary(b, path, &notes)) {
                progress.add(std::fs::metadata(path).map_or(0, |m| m.len()));
                skipped = true;
                return Ok(false);
            }
            step(&mut writer, &mut pending, &|| {
                blocks
                    .par_iter()
                    .map(|(offset, block)| {
                        let text = decode_block(block, path, *offset, policy, &replaced)?;
                        tok.encode_ordinary_in(&text, progress)
                    })
                    .collect()
            })?;
            Ok(true)
        })?;
        if !skipped {
            pending.push(eot.into_iter().collect());
        }
    }
    encode_small(&mut small, &mut writer, &mut pending)?;
    pending.iter().try_for_each(|ids| writer.push(ids))?;
    let written = writer.finish()?;
    // Shards left from an earlier, longer run in the same folder would be read as part of this one.
    let mut stale = written.len();
    loop {
        let stem = out_dir.join(format!("shard_{stale:06}"));
        let (bin, json) = (stem.with_extension("bin"), stem.with_extension("json"));
        if !bin.exists() && !json.exists() {
            break;
        }
        let _ = std::fs::remove_file(bin);
        let _ = std::fs::remove_file(json);
        stale += 1;
    }
    Ok((written, notes.into_inner().unwrap_or_else(|e| e.into_inner())))
}
