//! The `.bpe` text parser on arbitrary input: never a panic, only a clean error; whatever it
//! accepts writes back to a file that parses to the same tokenizer.
#![no_main]
use bpe::formats::{from_bpe_text, to_bpe_text};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(tok) = from_bpe_text(&text, "fuzz.bpe") else { return };
    if let Ok(file) = to_bpe_text(&tok) {
        let again = from_bpe_text(&file, "again.bpe").expect("a file we wrote parses");
        assert_eq!(again.vocab.tokens, tok.vocab.tokens);
        assert_eq!(again.vocab.specials, tok.vocab.specials);
        assert_eq!(again.pre.pattern(), tok.pre.pattern());
    }
    let ids = tok.encode_bytes(b"Hello, world! \xff 123").unwrap();
    assert!(ids.iter().all(|&i| (i as usize) < tok.n_vocab()));
});
