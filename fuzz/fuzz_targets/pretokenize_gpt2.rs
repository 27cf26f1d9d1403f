//! The GPT-2 scanner against fancy-regex running both forms of GPT-2's pattern.
#![no_main]
#[path = "common.rs"]
mod common;
use bpe::pretokenize::{GPT2_PATTERN, GPT2_PATTERN_ORIGINAL};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::check_pretokenizer("gpt2", &[GPT2_PATTERN, GPT2_PATTERN_ORIGINAL], data);
});
