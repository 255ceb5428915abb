//! What every real-server harness shares: a child process that is killed and reaped when its
//! handle drops (also while a failing test unwinds), free loopback ports, and readiness polling
//! against a deadline. Unlike a fixed sleep, readiness polling returns as soon as the server
//! answers and fails with the last lines of the server's own log when it never does.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How many fresh ports a harness tries when its server loses the race for the one it was given.
pub const START_ATTEMPTS: usize = 3;

/// How long a server may take from spawn to answering its readiness probe.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server process owned by a test. Dropping it sends SIGKILL and waits for the process so no
/// zombie and no listener outlives the test. Its stdout and stderr go to one log file whose tail
/// is quoted when the server misbehaves.
pub struct ChildProcess {
    name: &'static str,
    child: Child,
    log_path: PathBuf,
}

impl ChildProcess {
    /// Spawns `command` with stdin closed and stdout + stderr appended to `log_path`.
    pub fn spawn(name: &'static str, mut command: Command, log_path: &Path) -> ChildProcess {
        let log = File::create(log_path)
            .unwrap_or_else(|e| panic!("create {name} log {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("clone {name} log handle: {e}"));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("spawn {name} ({command:?}): {e}; is it installed? see .ci/install-test-deps")
        });
        ChildProcess {
            name,
            child,
            log_path: log_path.to_path_buf(),
        }
    }

    /// The operating-system process id, e.g. to check that dropping the handle ended it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited (it is reaped then).
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.exit_status()
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait for {}: {e}", self.name))
    }

    /// Sends SIGTERM and waits until the process exits; SIGKILL after `timeout`. Returns the
    /// exit status (of the kill, if it came to that).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        // `kill` the command, as the crate has no signal API of its own.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.exit_status() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("wait for {}: {e}", self.name))
    }

    /// The last `lines` lines the process wrote to stdout or stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // SIGKILL: these servers hold nothing worth flushing, and a graceful stop only costs time.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago. The listener is closed on return, so the caller
/// must pass the port to its server at once and retry with a new one if the server cannot bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local addr of listener")
        .port()
}

/// Whether a process with this pid is alive (a zombie counts as dead).
pub fn process_is_running(pid: u32) -> bool {
    super::process::stat_fields(pid)
        .first()
        .is_some_and(|state| state != "Z" && state != "X")
}

/// How a start attempt ended when it did not panic.
pub enum Startup {
    /// The probe succeeded while the process was alive.
    Ready,
    /// The process exited because its port had been taken: start again on another port.
    PortTaken,
}

/// Polls `probe` until it returns true, the process exits, or [`START_TIMEOUT`] passes. Panics,
/// quoting the process log, on any exit other than a lost port and on the deadline.
pub async fn await_ready<F, Fut>(process: &mut ChildProcess, probe: F) -> Startup
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    await_ready_within(process, START_TIMEOUT, probe).await
}

/// [`await_ready`] with another deadline, for a start that does slow work first (the scale
/// benchmark's adapter is ready after a relist of a million series).
pub async fn await_ready_within<F, Fut>(
    process: &mut ChildProcess,
    timeout: Duration,
    mut probe: F,
) -> Startup
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if let Some(status) = process.exit_status() {
            let tail = process.log_tail(20);
            if tail.to_ascii_lowercase().contains("address already in use") {
                return Startup::PortTaken;
            }
            panic!(
                "{} exited during start-up ({status}); last lines of its log:\n{tail}",
                process.name
            );
        }
        if probe().await {
            // A server of someone else's on the same port would also answer; ours must be alive.
            if process.exit_status().is_none() {
                return Startup::Ready;
            }
            continue;
        }
        if started.elapsed() > timeout {
            panic!(
                "{} (pid {}) not ready after {timeout:?}; last lines of its log:\n{}",
                process.name,
                process.pid(),
                process.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP client the harnesses use to probe and query their servers (plain HTTP on loopback).
pub fn http_client() -> reqwest::Client {
    // reqwest is built without a default TLS provider; it needs one even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build reqwest client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_finds_its_port_taken_is_reported_for_a_retry() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Holding the listener makes the port taken for sure.
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = taken.local_addr().expect("local addr").port().to_string();
        let mut command = Command::new("redis-server");
        command.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""]);
        command.current_dir(dir.path());
        let mut process = ChildProcess::spawn("redis-server", command, &dir.path().join("log"));
        let outcome = await_ready(&mut process, || async { false }).await;
        assert!(
            matches!(outcome, Startup::PortTaken),
            "log:\n{}",
            process.log_tail(5)
        );
    }
}
