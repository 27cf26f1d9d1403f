//! The `.counts` file parser on arbitrary input: never a panic, only a clean error; what it
//! accepts is written back byte for byte, and its pattern is compiled as the loader does.
#![no_main]
use bpe::counts::WordCounts;
use bpe::pretokenize::Pretokenizer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok((counts, pattern)) = WordCounts::from_file_bytes(data, "fuzz.counts") else { return };
    let again = WordCounts::from_file_bytes(&counts.to_file_bytes(&pattern), "again.counts").expect("a file we wrote parses");
    assert_eq!(again, (counts.clone(), pattern.clone()));
    let _ = Pretokenizer::new(&pattern); // the Python loader does this next: Ok or Err, no panic
    let merged = counts.clone().merge(counts);
    assert!(merged.words.windows(2).all(|w| w[0].0 < w[1].0));
});
