use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[test]
fn only_plain_http_to_an_ip_is_taken() {
    let p = Plain::parse("http://127.0.0.1:3334/system/health").unwrap();
    assert_eq!(
        (p.addr, p.authority, p.path),
        ("127.0.0.1:3334".parse().unwrap(), "127.0.0.1:3334", "/system/health")
    );
    let p = Plain::parse("http://[::1]:9/m?x=1").unwrap();
    assert_eq!((p.addr.port(), p.path), (9, "/m?x=1"));
    assert_eq!(
        Plain::parse("http://10.0.0.1").unwrap().addr,
        "10.0.0.1:80".parse().unwrap()
    );
    for other in [
        "https://127.0.0.1/",
        "http://node.local:80/",
        "http://u@127.0.0.1/",
        "http://127.0.0.1/a b",
        "ftp://1.2.3.4/",
    ] {
        assert_eq!(Plain::parse(other), None, "{other}");
    }
}

fn head(raw: &str) -> Head {
    parse_head(raw.as_bytes()).unwrap().unwrap()
}

#[test]
fn framing_follows_rfc_9112() {
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(
        (h.code, h.framing, h.keep_alive, h.gzip),
        (200, Framing::Length(5), true, false)
    );
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked, "chunked wins over a length");
    let h = head("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n");
    assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
    assert_eq!(head("HTTP/1.1 204 No Content\r\n\r\n").framing, Framing::None);
    assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(head("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n").gzip);
    assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
    ] {
        assert!(matches!(parse_head(bad.as_bytes()), Err(ProbeError::Body(_))), "{bad}");
    }
    // An encoding never asked for is refused by name, not handed on as binary.
    assert_eq!(
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n").err(),
        Some(ProbeError::Encoding("br".into()))
    );
}

fn plain() -> Sink {
    Sink::new(false, usize::MAX)
}

#[test]
fn chunks_are_joined_and_capped() {
    let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let (mut body, mut at) = (plain(), 0);
    loop {
        match step(&raw[at..], &mut body, 100).unwrap() {
            Step::Consumed(n) => at += n,
            Step::End(n) => break assert_eq!(at + n, raw.len()),
            Step::More => panic!("all bytes are there"),
        }
    }
    assert_eq!(body.finish().unwrap(), b"hello world");
    assert!(matches!(step(b"5\r\nhel", &mut plain(), 100), Ok(Step::More)));
    assert!(matches!(
        step(b"5\r\nhello", &mut plain(), 3),
        Err(ProbeError::BodyTooLarge(3))
    ));
    assert!(matches!(
        step(b"5\r\nhelloXX", &mut plain(), 100),
        Err(ProbeError::Body(_))
    ));
    assert!(matches!(step(b"zz\r\n", &mut plain(), 100), Err(ProbeError::Body(_))));
}

/// Serves `answers` in turn, each on the connection as it comes, closing the connection after
/// each answer when `close_each`; counts accepted connections.
async fn serve(answers: Vec<&'static str>, close_each: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        while let Ok((mut conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            loop {
                let mut req = [0u8; 1024];
                if conn.read(&mut req).await.unwrap_or(0) == 0 {
                    break;
                }
                let Some(answer) = answers.next() else { return };
                conn.write_all(answer.as_bytes()).await.unwrap();
                if close_each {
                    break;
                }
            }
        }
    });
    (addr, accepted)
}

async fn get(idle: &Idle, addr: SocketAddr, pooled: bool) -> Result<(u16, Bytes), ProbeError> {
    let url = format!("http://{addr}/metrics");
    idle.fetch(
        &Plain::parse(&url).unwrap(),
        None,
        1 << 20,
        pooled,
        "User-Agent: test\r\n",
        &Progress::default(),
    )
    .await
}

#[tokio::test]
async fn a_kept_alive_connection_serves_the_next_probe() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let (addr, accepted) = serve(vec![ok, chunked, ok], false).await;
    let idle = Idle::new(Duration::from_secs(90));
    for _ in 0..3 {
        assert_eq!(get(&idle, addr, true).await.unwrap(), (200, Bytes::from_static(b"ok")));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(idle.len(), 1, "one idle socket, no buffer");
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_once() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (addr, accepted) = serve(vec![ok, ok], true).await;
    let idle = Idle::new(Duration::from_secs(90));
    assert_eq!(get(&idle, addr, true).await.unwrap().1, Bytes::from_static(b"ok"));
    // The server closed it after answering: the next probe goes out again, afresh.
    tokio::task::yield_now().await;
    assert_eq!(get(&idle, addr, true).await.unwrap().1, Bytes::from_static(b"ok"));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unpooled_and_close_delimited_answers_are_not_kept() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let until_close = "HTTP/1.1 200 OK\r\n\r\nall of it";
    let (addr, _) = serve(vec![ok, until_close], true).await;
    let idle = Idle::new(Duration::from_secs(90));
    get(&idle, addr, false).await.unwrap();
    assert_eq!(idle.len(), 0);
    assert_eq!(
        get(&idle, addr, true).await.unwrap().1,
        Bytes::from_static(b"all of it")
    );
    assert_eq!(idle.len(), 0);
}

#[tokio::test]
async fn a_body_cut_short_or_a_silent_close_says_so() {
    let short = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok";
    let (addr, _) = serve(vec![short], true).await;
    let idle = Idle::new(Duration::from_secs(90));
    assert_eq!(
        get(&idle, addr, false).await,
        Err(ProbeError::Body("connection closed in the body".into()))
    );
    // No answers left: the server closes without a word.
    let e = get(&idle, addr, false).await.unwrap_err();
    assert!(
        matches!(&e, ProbeError::Body(m) if m.starts_with("connection closed before an answer")),
        "{e}"
    );
}

#[tokio::test]
async fn endless_chunk_extensions_are_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 1024];
        let _ = conn.read(&mut req).await;
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=")
            .await;
        let filler = vec![b'a'; 64 << 10];
        while conn.write_all(&filler).await.is_ok() {}
    });
    let idle = Idle::new(Duration::from_secs(90));
    let url = format!("http://{addr}/");
    let e = idle
        .fetch(
            &Plain::parse(&url).unwrap(),
            None,
            1 << 20,
            false,
            "User-Agent: test\r\n",
            &Progress::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e, ProbeError::BodyTooLarge(1 << 20));
}

proptest::proptest! {
    /// Whatever a node sends, reading its head and chunks ends in a value or an error.
    #[test]
    fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let _ = parse_head(&bytes);
        let mut body = plain();
        let mut at = 0;
        while let Ok(Step::Consumed(n)) = step(&bytes[at..], &mut body, 256) {
            at += n;
        }
        proptest::prop_assert!(body.len() <= 256);
        let mut gzip = Sink::new(true, 256);
        let mut at = 0;
        while let Ok(Step::Consumed(n)) = step(&bytes[at..], &mut gzip, 256) {
            at += n;
        }
        proptest::prop_assert!(gzip.len() <= 256);
    }
}

#[tokio::test]
async fn a_json_rpc_call_is_a_post_with_its_length_and_type() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.ends_with(b"}") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the body");
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .unwrap();
        String::from_utf8(seen).unwrap()
    });
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#;
    let url = format!("http://{addr}/");
    let idle = Idle::new(Duration::from_secs(90));
    let answer = idle
        .fetch(
            &Plain::parse(&url).unwrap(),
            Some(body),
            1 << 20,
            false,
            "User-Agent: test\r\n",
            &Progress::default(),
        )
        .await;
    assert_eq!(answer.unwrap(), (200, Bytes::from_static(b"{}")));
    let request = server.await.unwrap();
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("\r\nContent-Type: application/json\r\n"), "{request}");
    assert!(
        request.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "{request}"
    );
    assert!(request.ends_with(&format!("\r\n\r\n{body}")), "{request}");
}

/// Accepts one connection, reads the request, then hands the socket to `answer`.
async fn serve_one<F, Fut>(answer: F) -> SocketAddr
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 1024];
        let _ = conn.read(&mut req).await;
        answer(conn).await;
    });
    addr
}

/// A fetch bounded by `deadline`, as the prober bounds it: the error says how far it got.
async fn fetch_within(addr: SocketAddr, deadline: Duration) -> Result<(u16, Bytes), ProbeError> {
    let url = format!("http://{addr}/metrics");
    let progress = Progress::default();
    let idle = Idle::new(Duration::from_secs(90));
    let plain = Plain::parse(&url).unwrap();
    let fetch = idle.fetch(&plain, None, 1 << 20, false, "User-Agent: test\r\n", &progress);
    tokio::time::timeout(deadline, fetch)
        .await
        .unwrap_or_else(|_| Err(progress.timed_out(deadline)))
}

#[tokio::test]
async fn a_port_that_accepts_and_never_answers_is_no_answer() {
    let addr = serve_one(|conn| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(conn);
    })
    .await;
    let e = fetch_within(addr, Duration::from_millis(300)).await.unwrap_err();
    assert_eq!(e, ProbeError::Timeout(Duration::from_millis(300)));
    assert!(e.no_answer());
}

#[tokio::test]
async fn trickling_headers_hit_the_deadline_and_say_so() {
    // Slowloris: the head one byte at a time, never finished within the deadline.
    let addr = serve_one(|mut conn| async move {
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
            if conn.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let started = Instant::now();
    let e = fetch_within(addr, Duration::from_millis(400)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "the deadline holds");
    match &e {
        ProbeError::Trickle { part, received, .. } => {
            assert_eq!(*part, "answer headers");
            assert!((1..=10).contains(received), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.no_answer(), "the process answers, too slowly");
    assert!(
        e.to_string().starts_with("answer headers incomplete after 0.4 s ("),
        "{e}"
    );
}

#[tokio::test]
async fn a_body_that_never_ends_hits_the_deadline_and_says_so() {
    let addr = serve_one(|mut conn| async move {
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        while conn.write_all(chunk.as_bytes()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let e = fetch_within(addr, Duration::from_millis(400)).await.unwrap_err();
    match &e {
        ProbeError::Trickle { part, received, .. } => {
            assert_eq!(*part, "body");
            assert!(*received > 1024, "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_a_byte_of_it_is_read() {
    // 1 GiB announced, then streamed: nothing of it is read, at once.
    let addr = serve_one(|mut conn| async move {
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
            .await;
        let filler = vec![b'x'; 64 << 10];
        while conn.write_all(&filler).await.is_ok() {}
    })
    .await;
    let e = fetch_within(addr, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(e, ProbeError::BodyTooLarge(1 << 20));
}

#[tokio::test]
async fn a_gzip_bomb_is_stopped_at_the_cap_of_its_inflated_size() {
    // 64 members of 1 MiB of zeros each: ~64 KiB on the wire, 64 MiB inflated.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = enc.finish().unwrap();
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 64).collect();
    let addr = serve_one(move |mut conn| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        );
        let _ = conn.write_all(head.as_bytes()).await;
        let _ = conn.write_all(&bomb).await;
    })
    .await;
    let e = fetch_within(addr, Duration::from_secs(5)).await.unwrap_err();
    match e {
        // Stopped at the bomb's ratio, after little more than a MiB of inflating.
        ProbeError::InflatesTooLarge { inflated, wire } => {
            assert!(inflated <= 1 << 20, "{e}");
            assert!(wire < 16 << 10, "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_ipv6_pod_is_asked_for_by_its_bracketed_address_with_the_policys_fields() {
    // `::1`, the one IPv6 loopback address.
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the head's end");
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8(seen).unwrap()
    });
    let url = format!("http://[::1]:{}/health", addr.port());
    let plain = Plain::parse(&url).unwrap();
    assert_eq!(plain.addr, addr);
    let fields = "User-Agent: t\r\nX-Tenant: a\r\nAuthorization: Bearer abc\r\n";
    let answer = Idle::new(Duration::from_secs(90))
        .fetch(&plain, None, 1 << 20, false, fields, &Progress::default())
        .await;
    assert_eq!(answer.unwrap(), (200, Bytes::from_static(b"ok")));
    let request = server.await.unwrap();
    assert!(
        request.starts_with(&format!(
            "GET /health HTTP/1.1\r\nHost: [::1]:{}\r\n{fields}",
            addr.port()
        )),
        "{request}"
    );
}
