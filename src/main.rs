//! The `stockroom` binary: argument parsing and the front ends. Every command is a thin
//! layer over `stockroom::Executor`; `anyhow` lives only here, at the edge.

mod cli;
#[cfg(target_os = "linux")]
mod large_pages;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: large_pages::LargePages = large_pages::LargePages;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_malloc();
    let args = cli::Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// glibc gives a thread that finds the heap busy an arena of its own (up to 8 per core) and
/// does not hand memory freed in one arena to an allocation in another, so batches freed on one
/// worker while another allocates stay resident. 5M pos rows peaked at 2.03 GB with the
/// default and 1.85 GB with two arenas, with no difference in time beyond the machine's noise
/// (9 runs each). `MALLOC_ARENA_MAX` in the environment still decides when set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets one allocator parameter; called first thing in main, before any thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: as above.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Blocks from this size up get pages of their own, returned to the system when freed (and
/// advised as huge pages, src/large_pages.rs). glibc's default threshold moves up to the
/// largest block freed so far, to 32 MiB: once a landing file's text (~30 MB) is freed,
/// file texts and hash tables come from the heap, and the heap keeps the pages a freed block
/// leaves between live ones. Measured, 3 alternating runs each: inventory-ops (5M events)
/// 1.97-2.07 GB peak against 1.99-2.23 GB, ecommerce (scale 10) 863-893 MB against
/// 893-925 MB, times within the machine's noise. 256 KiB did better on memory (1.81-2.02 GB)
/// but cost ecommerce 15% of its time: every column buffer became a fresh mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 << 20;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

/// Plain log lines on stderr (pipeline steps at info). `STOCKROOM_LOG` overrides the filter,
/// e.g. `STOCKROOM_LOG=debug`. On a terminal the pipeline shows spinners instead, so only
/// warnings are logged there.
fn init_logging() {
    use std::io::IsTerminal;
    // Only our own lines by default: deltalake logs routine conditions (a table not
    // created yet) at ERROR, which would alarm users for nothing.
    let default = if std::io::stderr().is_terminal() {
        "stockroom=warn"
    } else {
        "stockroom=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
