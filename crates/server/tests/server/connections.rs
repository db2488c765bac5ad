//! Connections that cost the server without being used: a client that sends
//! its headers a byte at a time (slowloris) is closed after the header
//! timeout, and one address holds a bounded number of connections.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{WAIT, spawn_app_with};

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(within, tcp.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .expect("reading the answer");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_closed() {
    let app = spawn_app_with(&["--header-timeout-secs", "1"]).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    // Half a request, then nothing: before the timeout existed the server
    // waited for the rest for ever.
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut slow, WAIT).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // An idle keep-alive connection is closed the same way.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut idle, WAIT).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_address_holds_a_bounded_number_of_connections() {
    let app = spawn_app_with(&["--connections-per-address", "3"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // The three are served: one asks for the health, and gets it.
    held[0]
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    held[0].read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");

    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    let answer = read_to_close(&mut fourth, WAIT).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: 10"), "{answer}");
    assert!(
        answer.ends_with("{\"error\":\"too many connections from your address\"}\n"),
        "{answer}"
    );

    // One closes; its place is free again.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut again = TcpStream::connect(app.addr).await.unwrap();
        again
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut again, WAIT).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection's place was not freed: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
