//! The operator under test: the real `nodehealth run` binary, watching one test namespace,
//! with the CRD applied from `crds/` as a user would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::cluster::kubeconfig;
use super::wait::wait_for;

/// Applies the checked-in CRD (server-side apply: parallel tests may do it at once).
pub async fn install_crd(client: &Client) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/nodehealth.io_nodehealths.yaml");
    let crd: CustomResourceDefinition = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "nodehealths.nodehealth.io",
        &PatchParams::apply("nodehealth-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply the NodeHealth CRD");
    wait_for(
        &crds,
        "nodehealths.nodehealth.io",
        std::time::Duration::from_secs(30),
        "CRD Established",
        |c| {
            c.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
        },
    )
    .await;
}

/// A running operator, killed when dropped.
pub struct Operator {
    child: Child,
    pub http: String,
}

impl Operator {
    /// Starts `nodehealth run` for one namespace, with extra flags, as the cluster admin.
    pub async fn start(ns: &str, extra: &[&str]) -> Operator {
        Operator::start_as(&kubeconfig().await, ns, extra)
    }

    /// Starts `nodehealth run` for one namespace with the identity of `kc`.
    pub fn start_as(kc: &std::path::Path, ns: &str, extra: &[&str]) -> Operator {
        Operator::spawn(kc, ns, extra, &[])
    }

    /// Starts `nodehealth run` for one namespace whose clock is `offset` seconds off, through
    /// libfaketime (Debian's `faketime` package, which `scripts/cluster.sh` installs). Monotonic
    /// time is left alone: only the wall clock is off, as on a host with a bad clock.
    pub async fn start_with_clock_offset(ns: &str, offset: i64) -> Operator {
        let lib = std::fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .flatten()
            .map(|arch| arch.path().join("faketime/libfaketimeMT.so.1"))
            .find(|p| p.exists())
            .expect("libfaketimeMT.so.1 under /usr/lib/<arch>/faketime: install Debian's faketime package");
        let lib = lib.to_string_lossy().into_owned();
        let offset = format!("{offset:+}s");
        let env = [
            ("LD_PRELOAD", lib.as_str()),
            ("FAKETIME", offset.as_str()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("FAKETIME_NO_CACHE", "1"),
        ];
        Operator::spawn(&kubeconfig().await, ns, &[], &env)
    }

    /// Starts `nodehealth run` for one namespace with the identity of `kc` and extra
    /// environment variables (which win over the defaults set here).
    pub fn spawn(kc: &std::path::Path, ns: &str, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        // Port 0: the operator binds a free port and says which in its start-up line.
        let mut child = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(kc)
            .args(["--namespace", ns, "--http-addr", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info,kube=warn")
            .env("NODEHEALTH_IDENTITY", format!("{ns}-operator"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nodehealth run");
        let stderr = child.stderr.take().expect("piped stderr");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let tag = env
            .iter()
            .find(|(k, _)| *k == "NODEHEALTH_IDENTITY")
            .map_or_else(|| ns.to_owned(), |(_, v)| (*v).to_owned());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("http_addr=").nth(1) {
                    let _ = addr_tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
                eprintln!("[operator {tag}] {line}");
            }
        });
        let http = addr_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the operator says the address it serves on");
        Operator { child, http }
    }

    /// The process's id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs (it recovered by itself, nobody restarted it).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGKILL and waits: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        // A paused process dies of SIGKILL too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process where it is (SIGSTOP), as a frozen or partitioned host would: it keeps
    /// its state and connections and goes on when [`Operator::resume`]d.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").arg(sig).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {sig} the operator");
    }

    /// Sends SIGTERM and waits up to `timeout` for a graceful exit; returns the exit code.
    pub fn terminate(&mut self, timeout: std::time::Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}
