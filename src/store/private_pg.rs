//! A private PostgreSQL server for newcomers: started from the installed binaries
//! when no database is configured and none answers on localhost:5432.
//!
//! The cluster lives in `<data_dir>/pg` (default `.billrun/pg` in the current
//! folder), listens on 127.0.0.1 on a port recorded in `<dir>/billrun.port`, and
//! keeps running after the command so that the next `billrun` command reuses it.
//! `billrun db stop` stops it. Running as root, the cluster belongs to the
//! `postgres` system user (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// How to install the binaries, for the error message.
const INSTALL_HINT: &str = "install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; \
     Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql@16`) or set \
     DATABASE_URL to a server you have";

/// The folder with `initdb` and `pg_ctl`: `$BILLRUN_PG_BIN`, `PATH`, or the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BILLRUN_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}"),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn pg_command(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Whether a cluster was initialised in `dir` (commands other than `migrate` and
/// `demo` start an existing cluster but never create one).
pub fn exists(dir: &Path) -> bool {
    dir.join("PG_VERSION").exists()
}

/// A cluster in `dir`: created if missing, started if stopped. Returns its URL.
pub async fn ensure_running(dir: &Path) -> Result<String> {
    let dir = std::path::absolute(dir)?;
    let bin = find_bin_dir()?;
    let port_file = dir.join("billrun.port");
    if !dir.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(&dir);
                    c
                },
                "chown of the private cluster's folder to postgres",
            )?;
        }
        let mut init = pg_command(&bin, "initdb");
        init.args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&dir);
        run(init, "initdb")?;
    }
    let port = match std::fs::read_to_string(&port_file) {
        Ok(p) => p.trim().parse::<u16>().context("reading billrun.port")?,
        Err(_) => {
            let p = free_port()?;
            std::fs::write(&port_file, p.to_string())?;
            p
        }
    };
    let running = pg_command(&bin, "pg_ctl")
        .arg("status")
        .arg("-D")
        .arg(&dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !running {
        let mut start = pg_command(&bin, "pg_ctl");
        start
            .arg("-D")
            .arg(&dir)
            .arg("-l")
            .arg(dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                dir.display()
            ))
            .args(["-w", "start"]);
        run(start, "pg_ctl start of the private PostgreSQL")?;
        tracing::info!(
            "private PostgreSQL started in {} on port {port}",
            dir.display()
        );
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/billrun"))
}

/// Stops the private cluster in `dir`, if it runs.
pub fn stop(dir: &Path) -> Result<bool> {
    if !dir.join("PG_VERSION").exists() {
        return Ok(false);
    }
    let bin = find_bin_dir()?;
    let mut stop = pg_command(&bin, "pg_ctl");
    stop.arg("-D").arg(dir).args(["-m", "fast", "-w", "stop"]);
    Ok(run(stop, "pg_ctl stop").is_ok())
}
