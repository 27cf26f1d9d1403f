//! Building a vocabulary from a ranked token list and special tokens, as the tiktoken, HF and
//! GPT-2 loaders do (through `CoreTokenizer.from_ranked`): the 256 bytes in an order the input
//! picks, then the input's tokens and specials. Never a panic; what builds encodes by tiktoken's
//! rule and decodes back.
#![no_main]
#[path = "common.rs"]
mod common;
use bpe::pretokenize::Pretokenizer;
use bpe::vocab::Vocab;
use bpe::Tokenizer;
use libfuzzer_sys::arbitrary::{self, Arbitrary};

#[derive(Arbitrary, Debug)]
struct Input {
    rotate: u8,
    tokens: Vec<Vec<u8>>,
    specials: Vec<(String, u16)>,
    text: Vec<u8>,
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    tokens.rotate_left(input.rotate as usize);
    tokens.extend(input.tokens.into_iter().take(200).map(|t| t.into_iter().take(64).collect::<Vec<u8>>()));
    let n = tokens.len() as u32;
    // Special ids near the end of the ordinary ones, so that clashes are likely.
    let specials: Vec<(String, u32)> = input.specials.into_iter().take(8).map(|(s, k)| (s, (n + k as u32).saturating_sub(4))).collect();
    let Ok(vocab) = Vocab::new(tokens, specials, "fuzz") else { return };
    let Ok(tok) = Tokenizer::new(vocab, Pretokenizer::new("cl100k").unwrap()) else { return };
    let text = &input.text[..input.text.len().min(512)];
    let ids = tok.encode_bytes(text).unwrap();
    let back = tok.decode_bytes(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>()).unwrap();
    assert_eq!(back, text);
    if let Ok(s) = std::str::from_utf8(text) {
        let mut naive = Vec::new();
        for piece in tok.pre.pieces(s).unwrap() {
            naive.extend(common::naive_encode_piece(&tok.vocab, piece.as_bytes()));
        }
        assert_eq!(ids, naive, "text {s:?}");
    }
    for (s, id) in tok.vocab.specials.clone() {
        assert_eq!(tok.decode_bytes(&[id as i64]).unwrap(), s.as_bytes());
    }
    assert!(tok.decode_bytes(&[tok.n_vocab() as i64]).is_err());
    if let Ok(file) = bpe::formats::to_bpe_text(&tok) {
        let again = bpe::formats::from_bpe_text(&file, "fuzz.bpe").expect("a file we wrote parses");
        assert_eq!(again.vocab.tokens, tok.vocab.tokens);
    }
});
