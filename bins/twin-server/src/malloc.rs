//! One glibc malloc arena for the whole process.
//!
//! glibc gives threads their own arenas (up to 8 per core) and keeps what each one has ever
//! held. Under sustained load the server's memory is allocated on the HTTP workers and freed
//! on the usage writer's and the store's threads, and the resident size kept climbing: a
//! 10-minute soak of one hot key went from 39 to 81 MiB on SQLite and to 136–202 MiB on
//! PostgreSQL. With `MALLOC_ARENA_MAX=1` the same load stayed within 42–45 MiB (see
//! docs/PERFORMANCE.md, "Memory"). glibc reads the variable only when the process starts, so
//! the server sets it and re-executes itself, once, before doing anything else; the process
//! keeps its PID. An operator's own `MALLOC_ARENA_MAX` (any value) is left alone, and so is
//! every platform other than Linux with glibc.

/// Re-executes the current binary with `MALLOC_ARENA_MAX=1` unless it is already set.
/// Returns only when nothing was done or the re-execution failed (the server then runs with
/// glibc's defaults).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // `exec` returns only on failure.
        let error = command.args(args).env("MALLOC_ARENA_MAX", "1").exec();
        eprintln!("note: could not limit malloc arenas ({error}); running with glibc's defaults");
    }
}
