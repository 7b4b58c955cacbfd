//! Organisation templates rendered in a child process with limits.
//!
//! A template is untrusted code (README "Security"). The render crate's policy
//! takes away what it must not read (environment, files, clock), but a template
//! can still recurse until the stack overflows (which aborts a process: Rust cannot
//! catch it), loop, or build strings until memory runs out. So every use of an
//! organisation template's text, the upload check included, happens in a child:
//! `billrun render-sandbox`, the same binary, started with an empty environment
//! and `/` as its directory, fed one [`SandboxRequest`] as JSON on stdin, answering
//! one [`SandboxResponse`] as JSON on stdout. The child limits itself before
//! reading anything ([`LIMITS`]: address space, CPU time, no core dump, no file
//! written) and renders on a thread with a fixed stack; the parent kills it after a
//! wall-clock timeout. A child that dies, overruns a limit or answers nonsense is
//! that one render's failure, reported with the reason; the worker goes on.

use std::io::{Read, Write};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use billrun_render::sandbox::{serve, SandboxRequest, SandboxResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The limits of one sandboxed render.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Address space of the child (RLIMIT_AS), bytes: a render that allocates past
    /// it fails ("memory allocation ... failed", the child aborts).
    pub memory_bytes: u64,
    /// CPU time of the child (RLIMIT_CPU), seconds: then SIGXCPU, then SIGKILL.
    pub cpu_secs: u64,
    /// Wall-clock time the parent waits for the answer before killing the child.
    pub wall: Duration,
    /// Stack of the rendering thread, bytes: recursion deeper than it fits aborts
    /// the child with a stack overflow.
    pub stack_bytes: usize,
    /// The largest request or answer read, bytes.
    pub max_io_bytes: u64,
}

/// The limits every render uses: 1 GiB of address space, 10 s of CPU, 20 s of
/// wall clock, a 64 MiB stack (a macro recursing on each line of a large invoice
/// fits; one recursing forever does not), 64 MiB of input or output.
pub const LIMITS: Limits = Limits {
    memory_bytes: 1 << 30,
    cpu_secs: 10,
    wall: Duration::from_secs(20),
    stack_bytes: 64 << 20,
    max_io_bytes: 64 << 20,
};

/// The subcommand the child runs.
pub const SUBCOMMAND: &str = "render-sandbox";

/// Renders `req` in a child process under [`LIMITS`]: the HTML and PDF, or why
/// not (the template's error, or the limit it hit).
pub async fn render(req: &SandboxRequest) -> Result<(String, Vec<u8>), String> {
    let input = serde_json::to_vec(req).map_err(|e| format!("render request: {e}"))?;
    let exe = std::env::current_exe()
        .map_err(|e| format!("render sandbox: cannot find the billrun binary: {e}"))?;
    let mut child = tokio::process::Command::new(exe)
        .arg(SUBCOMMAND)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("render sandbox: cannot start a child process: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let exchange = async {
        let write = async {
            // A child that died early closes its stdin: its exit status says why.
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut stdout = stdout.take(LIMITS.max_io_bytes + 1);
        let mut stderr = stderr.take(64 << 10);
        let read_out = stdout.read_to_end(&mut out);
        let read_err = stderr.read_to_end(&mut err);
        let (_, _, _) = tokio::join!(write, read_out, read_err);
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(LIMITS.wall, exchange).await {
        Ok(r) => r,
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "the render took longer than {} s and was stopped (a template looping too long?)",
                LIMITS.wall.as_secs()
            ));
        }
    };
    let status = status.map_err(|e| format!("render sandbox: {e}"))?;
    if !status.success() {
        return Err(died(status, &String::from_utf8_lossy(&err)));
    }
    if out.len() as u64 > LIMITS.max_io_bytes {
        return Err(format!(
            "the render produced more than {} MiB",
            LIMITS.max_io_bytes >> 20
        ));
    }
    let response: SandboxResponse = serde_json::from_slice(&out)
        .map_err(|e| format!("render sandbox: unreadable answer: {e}"))?;
    response.into_result()
}

/// Why a child died, in words.
fn died(status: std::process::ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let why = if stderr.contains("overflowed its stack") {
        format!(
            "the template recursed deeper than its {} MiB stack (stack overflow)",
            LIMITS.stack_bytes >> 20
        )
    } else if stderr.contains("memory allocation") {
        format!(
            "the template needed more than the render's {} MiB of memory",
            LIMITS.memory_bytes >> 20
        )
    } else {
        match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => format!(
                "the render used more than {} s of CPU and was stopped",
                LIMITS.cpu_secs
            ),
            Some(s) => format!("the render process died of signal {s} ({last})"),
            None => format!(
                "the render process exited with status {} ({last})",
                status.code().unwrap_or(-1)
            ),
        }
    };
    format!("render refused: {why}")
}

/// Checks an organisation template on upload: the policy, then the sample
/// invoice to HTML and PDF, in the sandbox.
pub async fn check(text: &str) -> Result<(), String> {
    render(&SandboxRequest::check(text)).await.map(|_| ())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and changes only this process.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `billrun render-sandbox`: the child. Limits itself, reads one request from
/// stdin, writes one answer to stdout. Exit 0 when it answered (even a failed
/// render), 2 when it could not read the request or set its limits.
pub fn child_main() -> ExitCode {
    let limits = [
        (libc::RLIMIT_AS, LIMITS.memory_bytes),
        (libc::RLIMIT_CPU, LIMITS.cpu_secs),
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, 0),
    ];
    for (resource, value) in limits {
        if let Err(e) = set_limit(resource, value) {
            eprintln!("render-sandbox: setrlimit({resource}, {value}): {e}");
            return ExitCode::from(2);
        }
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(LIMITS.max_io_bytes)
        .read_to_end(&mut input)
    {
        eprintln!("render-sandbox: reading the request: {e}");
        return ExitCode::from(2);
    }
    let req: SandboxRequest = match serde_json::from_slice(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("render-sandbox: the request is not a render request: {e}");
            return ExitCode::from(2);
        }
    };
    let worker = std::thread::Builder::new()
        .name("render".into())
        .stack_size(LIMITS.stack_bytes)
        .spawn(move || serve(&req));
    let response = match worker.map(|h| h.join()) {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => SandboxResponse::Failed("the render panicked".into()),
        Err(e) => SandboxResponse::Failed(format!("render thread: {e}")),
    };
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut stdout, &response)
        .map_err(std::io::Error::from)
        .and_then(|_| stdout.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("render-sandbox: writing the answer: {e}");
            ExitCode::from(2)
        }
    }
}
