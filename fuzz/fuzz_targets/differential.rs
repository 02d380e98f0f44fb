//! The lock-free breaker against the mutex reference, driven by the fuzzer's bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_conformance::run_bytes(data));
