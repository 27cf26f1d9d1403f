//! Inputs that fuzzing (`fuzz/`, see tests/FUZZING.md) found to crash the crate, or that writing
//! the fuzz targets showed would: each now gets a clean error, and stays fixed.

use bpe::formats::from_bpe_text;
use bpe::Error;

fn bpe_file(merge_lines: &str, count: &str) -> String {
    format!("bpe-tokenizer 1\npattern \"gpt2\"\nmerges {count}\n{merge_lines}")
}

/// A corrupt merge count used to be reserved up front: `merges 1000000000000` asked for 8 TB
/// and aborted the process (in Python too), and a count near 2^64 panicked on capacity overflow.
#[test]
fn absurd_merge_count_is_a_format_error_not_an_abort() {
    for count in ["1000000000000", "18446744073709551615"] {
        let err = from_bpe_text(&bpe_file("32 32\n", count), "huge.bpe").unwrap_err();
        assert!(matches!(err, Error::Format(..)), "{err}");
        assert!(err.to_string().contains("truncated?"), "{err}");
    }
}

/// Each merge may join the newest token with itself: forty lines would spell a token of 2^40
/// bytes. The reader stops at a bound instead of exhausting memory.
#[test]
fn doubling_merges_are_refused_before_they_exhaust_memory() {
    let lines: String = (0..40).map(|i| format!("{0} {0}\n", if i == 0 { 97 } else { 255 + i })).collect();
    let err = from_bpe_text(&bpe_file(&lines, "40"), "bomb.bpe").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format(_, 32, _)), "{msg}");
    assert!(msg.contains("bomb.bpe") && msg.contains("corrupt"), "{msg}");
    // Twenty doublings (a token of 1 MiB) are still a valid file.
    let lines: String = (0..20).map(|i| format!("{0} {0}\n", if i == 0 { 97 } else { 255 + i })).collect();
    let tok = from_bpe_text(&bpe_file(&lines, "20"), "deep.bpe").unwrap();
    assert_eq!(tok.vocab.tokens.last().unwrap().len(), 1 << 20);
}

/// Found by the `encode_any_vocab` target: `Vocab::encode_piece` on an empty piece computes
/// `parts.len() - 1` in the short-piece merge and panics (debug) or reads out of bounds. The
/// pre-tokenizers never make an empty piece, so only a direct caller of this public method can
/// reach it. Now an empty piece is no ids.
#[test]
fn empty_piece_encodes_to_no_ids() {
    let vocab = bpe::vocab::Vocab::from_merges(&bpe::vocab::IDENTITY, &[(97, 97)], vec![], "t").unwrap();
    let mut out = Vec::new();
    vocab.encode_piece(b"", &mut out);
    assert!(out.is_empty());
}
