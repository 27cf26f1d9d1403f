//! The cl100k scanner against fancy-regex running cl100k_base's pattern.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::check_pretokenizer("cl100k", &[bpe::pretokenize::CL100K_PATTERN], data);
});
