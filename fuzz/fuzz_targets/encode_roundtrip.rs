//! Encoding with a vocabulary trained once from a fixed text: ids agree with tiktoken's rule
//! recomputed naively piece by piece, stay in range and decode back to the input; `count`,
//! special-token policies and the raw-bytes path agree with plain encoding.
#![no_main]
#[path = "common.rs"]
mod common;
use bpe::counts::{Counter, Utf8Policy};
use bpe::pretokenize::Pretokenizer;
use bpe::{Error, Progress, SpecialPolicy, Tokenizer};
use std::sync::OnceLock;

const EOT: &str = "<|endoftext|>";

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        // English, code, digits, non-Latin scripts, and runs long enough to give long tokens.
        let mut corpus = String::from(
            "The quick brown fox jumps over the lazy dog. It's what we'd've done; they'll see.\n\
             fn main() { let x = 12345 + 678; println!(\"{x}\"); }\n\
             Le cœur a ses raisons que la raison ne connaît point. 中文文本，日本語のテキスト。 😀😀😀\n\
             \t\tindented\r\n  spaces   and\u{a0}nbsp\n\n\n",
        );
        corpus.push_str(&"a".repeat(300));
        corpus.push(' ');
        corpus.push_str(&"ab".repeat(150));
        corpus.push_str(&"\n".repeat(40));
        corpus.push_str(&" ".repeat(100));
        let corpus = corpus.repeat(3);
        let pre = Pretokenizer::new("gpt2").unwrap();
        let progress = Progress::default();
        let counter = Counter::new(&pre, Utf8Policy::Replace, &progress);
        counter.add_texts(&[&corpus]).unwrap();
        let counts = counter.finish();
        let (tok, _, _) = bpe::train_tokenizer(&counts, 256 + 400 + 1, &[EOT.to_string()], pre.clone(), &progress).unwrap();
        tok
    })
}

fn as_i64(ids: &[u32]) -> Vec<i64> {
    ids.iter().map(|&i| i as i64).collect()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(2048)]; // the naive oracle is quadratic per piece
    let tok = tokenizer();
    let text = common::text(data);
    let ids = tok.encode_ordinary(&text).unwrap();
    assert!(ids.iter().all(|&i| (i as usize) < tok.n_vocab()), "id out of range for {text:?}");
    assert_eq!(tok.decode_bytes(&as_i64(&ids)).unwrap(), text.as_bytes(), "round trip of {text:?}");

    let mut naive = Vec::new();
    for piece in tok.pre.pieces(&text).unwrap() {
        naive.extend(common::naive_encode_piece(&tok.vocab, piece.as_bytes()));
    }
    assert_eq!(ids, naive, "ids differ from tiktoken's rule on {text:?}");

    let none = SpecialPolicy::default();
    assert_eq!(tok.encode(&text, &none).unwrap(), ids);
    assert_eq!(tok.count(&text, &none).unwrap(), ids.len());

    let allowed = SpecialPolicy { allowed: vec![EOT.into()], disallowed: vec![] };
    let with_specials = tok.encode(&text, &allowed).unwrap();
    assert_eq!(tok.decode_bytes(&as_i64(&with_specials)).unwrap(), text.as_bytes());
    assert_eq!(with_specials.iter().filter(|&&i| Some(i) == tok.special_id(EOT)).count(), text.matches(EOT).count());

    let strict = SpecialPolicy { allowed: vec![], disallowed: vec![EOT.into()] };
    match tok.encode(&text, &strict) {
        Ok(v) => assert!(!text.contains(EOT) && v == ids),
        Err(Error::DisallowedSpecial(s)) => assert!(text.contains(EOT) && s == EOT),
        Err(e) => panic!("unexpected error {e}"),
    }

    // Arbitrary bytes: invalid sequences go through as raw byte tokens.
    let raw = tok.encode_bytes(data).unwrap();
    assert_eq!(tok.decode_bytes(&as_i64(&raw)).unwrap(), data, "bytes round trip");
    if std::str::from_utf8(data).is_ok() {
        assert_eq!(raw, ids);
    }
});
