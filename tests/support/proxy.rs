//! A TCP proxy in front of the API server that a test can cut, as a network partition would:
//! open connections are closed and new ones refused until it is mended. TLS passes through
//! untouched (the server's certificate names 127.0.0.1, which the proxy listens on too).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::cluster::kubeconfig;

pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to the API server of the local cluster, and a kubeconfig that goes through it.
    pub async fn to_api_server(name: &str) -> (Proxy, PathBuf) {
        Proxy::to_api_server_of(&kubeconfig().await, name).await
    }

    /// A proxy to the API server of a kubeconfig, and a kubeconfig that goes through it.
    pub async fn to_api_server_of(kubeconfig: &std::path::Path, name: &str) -> (Proxy, PathBuf) {
        let admin = std::fs::read_to_string(kubeconfig).unwrap();
        let mut kc: serde_yaml::Value = serde_yaml::from_str(&admin).unwrap();
        let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap().to_owned();
        let upstream: SocketAddr = server.trim_start_matches("https://").parse().expect("server host:port");
        let proxy = Proxy::start(upstream).await;
        kc["clusters"][0]["cluster"]["server"] = format!("https://{}", proxy.addr).into();
        let path = std::env::temp_dir().join(format!("nodehealth-{name}-proxied.kubeconfig"));
        std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
        (proxy, path)
    }

    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_open, tracked) = (open.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if !is_open.load(Ordering::Acquire) {
                    continue; // dropped: the client sees its connection closed
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                tracked.lock().unwrap().push(link);
            }
        });
        Proxy {
            addr,
            open,
            links,
            accept,
        }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::Release);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.open.store(true, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
