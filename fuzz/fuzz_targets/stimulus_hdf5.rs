#![no_main]
//! Fuzzes nrf's reader of `InputFormat::StimulusHdf5`.

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| nrf_fuzz::read(
    nrf::formats::InputFormat::StimulusHdf5,
    bytes
));
