//! The o200k scanner against fancy-regex running o200k_base's pattern.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::check_pretokenizer("o200k", &[bpe::pretokenize::O200K_PATTERN], data);
});
