//! `nrf gpu`: name the adapter and prove it computes.

use anyhow::Result;

use nrf::gpu::GpuContext;

/// Finds the adapter and runs the self-test.
pub fn run() -> Result<()> {
    let context = GpuContext::request()?;
    println!("adapter   {}", context.describe());
    let info = context.adapter.get_info();
    if !info.driver.is_empty() {
        println!("driver    {} {}", info.driver, info.driver_info);
    }
    if context.is_software() {
        println!("note      this is a software (CPU) adapter: correct, but slower than a GPU");
    }
    context.self_test(1 << 16)?;
    println!("self-test passed: 65536 multiply-adds computed on the GPU match the CPU exactly");
    Ok(())
}
