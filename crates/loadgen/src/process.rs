//! The servers under test as child processes: started fresh on a free
//! loopback port, watched through `/proc` (resident memory, its peak, CPU
//! seconds), and killed at the end. A server of several nodes ([`Nodes`])
//! is measured as their sum, with each node's peak memory kept.

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
        let mut server = Self {
            child,
            pid,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            // A server that refuses its flags is gone at once: say so then.
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}) before listening (see {})",
                    launch.name,
                    launch.log.display()
                );
            }
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

/// A server of one or more nodes (processes), started and measured
/// together: memory and CPU are their sums.
pub struct Nodes {
    nodes: Vec<Server>,
}

impl Nodes {
    /// Starts each launch in turn (the first node to start sets up a shared
    /// database's tables before the next opens it); a node that fails to
    /// start stops those already running.
    pub async fn start(launches: &[Launch]) -> anyhow::Result<Self> {
        anyhow::ensure!(!launches.is_empty(), "a server needs at least one node");
        let mut nodes = Vec::with_capacity(launches.len());
        for launch in launches {
            nodes.push(Server::start(launch).await?);
        }
        Ok(Self { nodes })
    }

    /// Each node's `http://127.0.0.1:PORT`, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.url.clone()).collect()
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never: [`Nodes::start`] starts at least one.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes' memory and CPU now, added up.
    pub fn read(&self) -> Reading {
        self.nodes
            .iter()
            .map(Server::read)
            .fold(Reading::default(), |sum, r| Reading {
                rss_kb: sum.rss_kb + r.rss_kb,
                cpu_s: sum.cpu_s + r.cpu_s,
            })
    }

    /// Samples every node (see [`Server::watch`]).
    pub fn watch(&self) -> NodesWatch {
        NodesWatch(self.nodes.iter().map(Server::watch).collect())
    }

    /// Kills every node and waits for them to go.
    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

/// Running samplers of every node (see [`Nodes::watch`]).
pub struct NodesWatch(Vec<Watch>);

impl NodesWatch {
    /// Stops sampling; each node's peak resident memory, kB, in start order.
    pub async fn peaks_kb(self) -> Vec<u64> {
        let mut peaks = Vec::with_capacity(self.0.len());
        for watch in self.0 {
            peaks.push(watch.peak_kb().await);
        }
        peaks
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
