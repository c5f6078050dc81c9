#![no_main]
//! Fuzzes nrf's reader of `InputFormat::RunConfig`.

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| nrf_fuzz::read(
    nrf::formats::InputFormat::RunConfig,
    bytes
));
