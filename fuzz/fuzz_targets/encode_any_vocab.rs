//! Encoding with a vocabulary the fuzzer builds: the first bytes give up to 48 merges (each two
//! ids, taken modulo the tokens so far), the rest is the text. The fast merge paths (short pieces,
//! long pieces cut at byte pairs no token bridges, the piece cache) must agree with tiktoken's
//! rule, and the vocabulary must survive the `.bpe` text format when it can be written.
#![no_main]
#[path = "common.rs"]
mod common;
use bpe::pretokenize::Pretokenizer;
use bpe::vocab::{Vocab, IDENTITY};
use bpe::Tokenizer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % 49).min(rest.len() / 2);
    let (spec, body) = rest.split_at(2 * n);
    let merges: Vec<(u32, u32)> = spec
        .chunks(2)
        .enumerate()
        .map(|(i, p)| {
            // Bias towards recent tokens so that long tokens and chains of merges appear.
            let k = 256 + i as u32;
            let pick = |b: u8| if b >= 128 { k - 1 - (b as u32 - 128) % k } else { b as u32 };
            (pick(p[0]), pick(p[1]))
        })
        .collect();
    // Doubling merges would spell tokens of 2^48 bytes: keep every token short.
    let mut lens = vec![1usize; 256];
    for &(l, r) in &merges {
        lens.push(lens[l as usize] + lens[r as usize]);
    }
    if lens.iter().any(|&n| n > 4096) {
        return;
    }
    let body = &body[..body.len().min(512)]; // the naive oracle is cubic on one piece
    let Ok(vocab) = Vocab::from_merges(&IDENTITY, &merges, vec![], "fuzz") else { return };
    let tok = Tokenizer::new(vocab, Pretokenizer::new("gpt2").unwrap()).unwrap();
    let ids = tok.encode_bytes(body).unwrap();
    let back = tok.decode_bytes(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>()).unwrap();
    assert_eq!(back, body);
    // The whole body as one piece: exercises the long-piece path that pieces rarely reach (and
    // the empty piece, which once underflowed).
    let mut whole = Vec::new();
    tok.vocab.encode_piece(body, &mut whole);
    assert_eq!(whole, common::naive_encode_piece(&tok.vocab, body), "one piece {body:?} with merges {merges:?}");
    if let Ok(text) = std::str::from_utf8(body) {
        let mut naive = Vec::new();
        for piece in tok.pre.pieces(text).unwrap() {
            naive.extend(common::naive_encode_piece(&tok.vocab, piece.as_bytes()));
        }
        assert_eq!(ids, naive, "text {text:?} with merges {merges:?}");
    }
    if let Ok(file) = bpe::formats::to_bpe_text(&tok) {
        let again = bpe::formats::from_bpe_text(&file, "fuzz.bpe").unwrap();
        assert_eq!(again.vocab.tokens, tok.vocab.tokens);
    }
});
