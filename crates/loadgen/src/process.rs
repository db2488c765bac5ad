//! The servers under test as child processes: started fresh on a free
//! loopback port, watched through `/proc` (resident memory, its peak, CPU
//! seconds), and killed at the end.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How a server is started.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Shown in the results.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where its output goes.
    pub log: PathBuf,
}

/// A running server.
pub struct Server {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Resident memory, kB.
    pub rss_kb: u64,
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
}

impl Server {
    /// Starts `launch` with `{port}` in its arguments and environment replaced
    /// by a free port, and waits until the port accepts connections.
    pub async fn start(launch: &Launch) -> anyhow::Result<Self> {
        let port = free_port()?;
        let fill = |s: &str| s.replace("{port}", &port.to_string());
        let log = std::fs::File::create(&launch.log)?;
        let mut command = Command::new(&launch.program);
        command
            .args(launch.args.iter().map(|a| fill(a)))
            .envs(launch.env.iter().map(|(k, v)| (k.clone(), fill(v))))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", launch.program.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("{} exited at once", launch.name))?;
        let server = Self {
            child,
            pid,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not listen on {port} within 60 s (see {})",
                launch.name,
                launch.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// Its memory and CPU now.
    pub fn read(&self) -> Reading {
        read_proc(self.pid).unwrap_or_default()
    }

    /// Samples the process every 100 ms until the returned guard is
    /// stopped; the guard then tells the peak resident memory seen.
    pub fn watch(&self) -> Watch {
        let pid = self.pid;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                if let Some(reading) = read_proc(pid) {
                    peak = peak.max(reading.rss_kb);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped.changed() => break,
                }
            }
            // The kernel's own high-water mark catches what sampling missed.
            peak.max(high_water_kb(pid).unwrap_or(0))
        });
        Watch { stop, task }
    }

    /// Kills it and waits for it to go.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A running sampler (see [`Server::watch`]).
pub struct Watch {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Watch {
    /// Stops sampling; the peak resident memory seen, kB.
    pub async fn peak_kb(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}

/// A port nobody listens on now (the kernel picks it).
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Clock ticks per second of `/proc/PID/stat`'s times (100 on Linux
/// everywhere this runs; `getconf CLK_TCK`).
const TICKS_PER_S: f64 = 100.0;

fn read_proc(pid: u32) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status_kb(&status, "VmRSS:")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Reading {
        rss_kb,
        cpu_s: (utime + stime) / TICKS_PER_S,
    })
}

fn high_water_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kb(&status, "VmHWM:")
}

fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let reading = read_proc(std::process::id()).unwrap();
        assert!(reading.rss_kb > 100, "{reading:?}");
        assert!(high_water_kb(std::process::id()).unwrap() >= reading.rss_kb);
    }

    #[test]
    fn status_fields_in_kb() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kb(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }
}
