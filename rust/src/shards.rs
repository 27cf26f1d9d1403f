//! Token shards for model training: each input file is one document, encoded and followed by
//! the end-of-text token, the stream cut into `shard_NNNNNN.bin` files of little-endian ids
//! (uint16 when the vocabulary fits, else uint32), each with a `shard_NNNNNN.json` sidecar
//! giving the format, dtype, count, vocabulary size, end-of-text id and tokenizer fingerprint.
//! Every file is written atomically, so a reader never sees half a shard.

use crate::counts::Utf8Policy;
use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::formats::write_atomic;
use crate::Progress;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub const SHARD_FORMAT: &str = "bpe-shard";
pub const SHARD_VERSION: u32 = 1;

fn read_document(path: &Path, policy: Utf8Policy) -> Result<String> {
    if path.is_dir() {
        return Err(Error::Value(format!("{}: is a directory, not a file", path.display())));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if policy == Utf8Policy::Strict => {
            Err(Error::Utf8(path.display().to_string(), e.utf8_error().valid_up_to() as u64))
        }
        Err(e) => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

struct ShardWriter<'a> {
    dir: &'a Path,
    width: usize,
    n_vocab: usize,
    eot: Option<u32>,
    fingerprint: &'a str,
    written: Vec<(String, u64)>,
}

impl ShardWriter<'_> {
    fn write(&mut self, ids: &[u32]) -> Result<()> {
        let stem = format!("shard_{:06}", self.written.len());
        let bin = self.dir.join(format!("{stem}.bin"));
        let mut bytes = Vec::with_capacity(ids.len() * self.width);
        for &id in ids {
            if self.width == 2 {
                bytes.extend_from_slice(&(id as u16).to_le_bytes());
            } else {
                bytes.extend_from_slice(&id.to_le_bytes());
            }
        }
        write_atomic(&bin, &bytes)?;
        let meta = serde_json::json!({
            "format": SHARD_FORMAT,
            "version": SHARD_VERSION,
            "dtype": if self.width == 2 { "uint16" } else { "uint32" },
            "count": ids.len(),
            "n_vocab": self.n_vocab,
            "eot_token": self.eot,
            "tokenizer_fingerprint": self.fingerprint,
        });
        write_atomic(&self.dir.join(format!("{stem}.json")), format!("{meta:#}\n").as_bytes())?;
        self.written.push((bin.display().to_string(), ids.len() as u64));
        Ok(())
    }
}

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
) -> Result<Vec<(String, u64)>> {
    if shard_tokens == 0 {
        return Err(Error::Value("shard_tokens must be at least 1".into()));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let n_vocab = tok.n_vocab();
    let width = if n_vocab <= 1 << 16 { 2 } else { 4 };
    let mut writer = ShardWriter { dir: out_dir, width, n_vocab, eot, fingerprint, written: Vec::new() };
    let mut buffer: Vec<u32> = Vec::new();
    let batch = rayon::current_num_threads().max(1) * 4;
    for group in paths.chunks(batch) {
        if progress.cancelled() {
            return Err(Error::Interrupted);
        }
        let docs: Vec<Vec<u32>> = group
            .par_iter()
            .map(|p| {
                let text = read_document(p, policy)?;
                let mut ids = tok.encode_ordinary_in(&text, progress)?; // adds the bytes done
                ids.extend(eot);
                Ok(ids)
            })
            .collect::<Result<_>>()?;
        for ids in docs {
            buffer.extend(ids);
            while buffer.len() >= shard_tokens {
                let rest = buffer.split_off(shard_tokens);
                writer.write(&buffer)?;
                buffer = rest;
            }
        }
    }
    if !buffer.is_empty() || writer.written.is_empty() {
        writer.write(&buffer)?;
    }
    // Shards left from an earlier, longer run in the same folder would be read as part of this one.
    let mut stale = writer.written.len();
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
    Ok(writer.written)
}
