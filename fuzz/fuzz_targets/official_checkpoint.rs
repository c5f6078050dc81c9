#![no_main]
//! Fuzzes nrf's reader of `InputFormat::OfficialCheckpoint`.

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| nrf_fuzz::read(
    nrf::formats::InputFormat::OfficialCheckpoint,
    bytes
));
