//! Training on fuzzed text with a small vocabulary: no panic, the merges equal those of the naive
//! trainer (every pair recounted at every step), are the same on one thread and on two, and the
//! trained tokenizer round-trips its own corpus and the `.bpe` text format.
#![no_main]
#[path = "common.rs"]
mod common;
use bpe::counts::{Counter, Utf8Policy};
use bpe::pretokenize::Pretokenizer;
use bpe::Progress;
use std::sync::OnceLock;

fn pools() -> &'static (rayon::ThreadPool, rayon::ThreadPool) {
    static POOLS: OnceLock<(rayon::ThreadPool, rayon::ThreadPool)> = OnceLock::new();
    POOLS.get_or_init(|| {
        let make = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        (make(1), make(2))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else { return };
    let rest = &rest[..rest.len().min(1024)]; // the naive trainer recounts everything per merge
    let pattern = ["gpt2", "cl100k", "o200k"][knob as usize % 3];
    let wanted = (knob as usize / 3) % 80; // merges asked for, 0..=79
    let text = common::text(rest);
    let pre = Pretokenizer::new(pattern).unwrap();
    let progress = Progress::default();
    let counter = Counter::new(&pre, Utf8Policy::Replace, &progress);
    counter.add_texts(&[&text]).unwrap();
    let counts = counter.finish();
    assert_eq!(counts.words.iter().map(|(w, c)| w.len() as u64 * c).sum::<u64>(), text.len() as u64);

    let specials = vec!["<|endoftext|>".to_string()];
    let size = 256 + wanted + 1;
    let (one, two) = pools();
    let (tok, n, _) = one.install(|| bpe::train_tokenizer(&counts, size, &specials, pre.clone(), &progress)).unwrap();
    let (tok2, n2, _) = two.install(|| bpe::train_tokenizer(&counts, size, &specials, pre.clone(), &progress)).unwrap();
    let merges = tok.vocab.merges().unwrap();
    assert_eq!((n, &merges), (n2, &tok2.vocab.merges().unwrap()), "thread count changed the merges");
    assert_eq!(merges, common::naive_train(&counts, wanted), "merges differ from the naive trainer on {text:?}");

    let ids = tok.encode_ordinary(&text).unwrap();
    let back = tok.decode_bytes(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>()).unwrap();
    assert_eq!(back, text.as_bytes());
    let file = bpe::formats::to_bpe_text(&tok).unwrap();
    let again = bpe::formats::from_bpe_text(&file, "fuzz.bpe").unwrap();
    assert_eq!(again.vocab.tokens, tok.vocab.tokens);
    assert_eq!(again.vocab.specials, tok.vocab.specials);
});
