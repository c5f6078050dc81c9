//! The `nrf` binary: parses the command line, runs it, and reports any error in one line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    quiet_headless_runtime_dir();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error in one line: the outermost context first, then each cause that adds something
/// (many errors already quote their source, which `anyhow` would otherwise print twice).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        // A cause that repeats the context and says more (`B.npy` then `B.npy: what is
        // wrong`) replaces its last part.
        if let Some(last) = line.rsplit(": ").next().filter(|last| !last.is_empty())
            && text.starts_with(last)
        {
            line.truncate(line.len() - last.len());
            line.push_str(&text);
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Gives the process a private runtime folder when its environment has none (a headless server,
/// a container, CI): the Vulkan driver's window-system layer otherwise prints "error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment." at every GPU probe, though nothing
/// is wrong, and a user reading "error" stops trusting the output. A folder that exists is left
/// alone.
#[cfg(target_os = "linux")]
fn quiet_headless_runtime_dir() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| std::path::Path::new(&dir).is_dir()) {
        return;
    }
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("nrf-runtime-{me}"));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    // Only a folder of our own, private to us, will do.
    let private = std::fs::metadata(&dir).is_ok_and(|m| m.uid() == me && m.is_dir())
        && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok();
    if !private {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: the first thing `main` does, before any thread is started, so nothing can read
    // or write the environment at the same time.
    unsafe {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}
