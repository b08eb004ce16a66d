//! The processes the bench starts (operator, Prometheus) and what it measures of a process:
//! CPU time, peak RSS and open files, read from `/proc` as `top` and `ps` read them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often open files are counted during a sampling window. CPU and peak RSS need only the
/// window's two ends (cumulative counters, a high-water mark); descriptors come and go, so they
/// are counted along the way and the highest count is kept.
const FD_SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Lines of a process' log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

/// The file listing every process the bench started, one `PID NAME` per line: if the bench is
/// killed before it can stop them, `scripts/bench-scale.sh` stops what is listed (after checking
/// the PID still runs NAME).
#[derive(Debug, Clone)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Starts the list with the bench's own PID (name `bench`), so the script can wait for it.
    pub fn create(path: PathBuf) -> anyhow::Result<PidFile> {
        let file = PidFile(path);
        std::fs::write(&file.0, "").with_context(|| format!("create {}", file.0.display()))?;
        file.add(std::process::id(), "bench")?;
        Ok(file)
    }

    pub fn add(&self, pid: u32, name: &str) -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.0)
            .with_context(|| format!("open {}", self.0.display()))?;
        writeln!(f, "{pid} {name}").with_context(|| format!("write {}", self.0.display()))
    }
}

/// A child process with its stdout and stderr in a log file; killed when dropped.
pub struct Managed {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Managed {
    /// Starts `cmd` with stdin closed and both output streams appended to `log`.
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path, pids: &PidFile) -> anyhow::Result<Managed> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {name} ({:?})", cmd.get_program()))?;
        pids.add(child.id(), name)?;
        Ok(Managed {
            name,
            child,
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// An error naming the exit status and the log's last lines if the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, LOG_TAIL_LINES)
            ),
            Err(e) => bail!("{}: cannot check the process: {e}", self.name),
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // std has no SIGTERM; `kill` is in every base system (procps / util-linux).
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[bench] {} did not stop within {grace:?} of SIGTERM: killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        // Err: it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Clock ticks per second of `/proc/PID/stat`'s utime and stime (`getconf CLK_TCK`; 100 on
/// Linux nearly always, but asked rather than assumed).
pub fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("run getconf CLK_TCK")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0)
        .with_context(|| format!("getconf CLK_TCK printed {text:?}"))
}

/// utime + stime of a process, in clock ticks (proc(5): fields 14 and 15 of `/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path}: no ')'"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime (14) is at index 11, stime (15) at index 12.
    let field = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("{path}: field {} unreadable", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// Peak resident set size in KiB (`VmHWM` of `/proc/PID/status`).
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{path}: no VmHWM"))
}

/// Open file descriptors (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> anyhow::Result<usize> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path)
        .with_context(|| format!("read {path}"))?
        .count())
}

/// Busy and total jiffies of the whole machine (the `cpu` line of `/proc/stat`; idle and
/// iowait are not busy).
fn host_jiffies() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    let line = stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .context("/proc/stat: no cpu line")?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// What a sampling window measured of one process.
#[derive(Debug, Clone, Copy)]
pub struct Sampled {
    /// Wall-clock length of the window.
    pub seconds: f64,
    /// CPU seconds used per wall second over the window.
    pub cpu_cores: f64,
    /// Peak RSS over the process' whole life up to the window's end.
    pub peak_rss_mib: f64,
    /// Highest count of open descriptors seen during the window.
    pub max_fds: usize,
    /// Cores busy on the whole machine over the window (the process, the fleet, the API
    /// server, anything else): near the core count, every figure is squeezed.
    pub host_busy_cores: f64,
}

/// Measures `process` for `seconds`; fails if it exits meanwhile.
pub async fn sample(process: &mut Managed, seconds: u64, ticks_per_second: f64) -> anyhow::Result<Sampled> {
    let pid = process.pid();
    let (start, ticks0, host0) = (Instant::now(), cpu_ticks(pid)?, host_jiffies()?);
    let end = start + Duration::from_secs(seconds);
    let mut max_fds = open_fds(pid)?;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // The window itself: nothing to await but time.
        tokio::time::sleep((end - now).min(FD_SAMPLE_EVERY)).await;
        process.ensure_running()?;
        max_fds = max_fds.max(open_fds(pid)?);
    }
    let (ticks1, host1) = (cpu_ticks(pid)?, host_jiffies()?);
    let elapsed = start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let host_total = (host1.1 - host0.1).max(1) as f64;
    Ok(Sampled {
        seconds: elapsed,
        cpu_cores: (ticks1 - ticks0) as f64 / ticks_per_second / elapsed,
        peak_rss_mib: peak_rss_kib(pid)? as f64 / 1024.0,
        max_fds,
        host_busy_cores: (host1.0 - host0.0) as f64 / host_total * cores,
    })
}

/// A free loopback port: bind, read, release (the process started next binds it).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
