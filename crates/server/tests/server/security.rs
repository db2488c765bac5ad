//! Security over real HTTP and WebSocket: the headers on every kind of
//! answer, the page's nonce, the cookie and HSTS under an `https://` public
//! URL, and the Origin rule for Socket.IO handshakes that a cookie
//! authenticates.

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sio_client::codec::{self, EnginePacket, SocketPacket};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{TestApp, WAIT, spawn_app, spawn_app_with};

/// What every answer must carry, whatever it is.
fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let header = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let policy = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "'wasm-unsafe-eval'",
        "style-src 'self';",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} missing from {policy}"
        );
    }
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
}

/// The nonce an answer's policy allows.
fn policy_nonce(headers: &HeaderMap) -> String {
    let policy = headers["content-security-policy"].to_str().unwrap();
    let start = policy.find("'nonce-").expect("a nonce in the policy") + "'nonce-".len();
    let len = policy[start..].find('\'').unwrap();
    policy[start..start + len].to_owned()
}

/// A file in the tests' shared site root, removed when dropped.
struct SiteFile(std::path::PathBuf);

impl SiteFile {
    fn new(name: &str, contents: &str) -> Self {
        let pkg = std::env::temp_dir().join("chatroom-test-site").join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        let path = pkg.join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for SiteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let name = format!("security-{}.js", std::process::id());
    let _file = SiteFile::new(&name, "export default 1;\n");
    let http = reqwest::Client::new();
    let url = app.url();
    let answers = [
        ("the page", http.get(&url), StatusCode::OK),
        (
            "a file",
            http.get(format!("{url}/pkg/{name}")),
            StatusCode::OK,
        ),
        (
            "a missing file",
            http.get(format!("{url}/pkg/missing.js")),
            StatusCode::NOT_FOUND,
        ),
        (
            "the API",
            http.get(format!("{url}/api/health")),
            StatusCode::OK,
        ),
        (
            "an unknown API route",
            http.get(format!("{url}/api/nope")),
            StatusCode::NOT_FOUND,
        ),
        (
            "a wrong method",
            http.post(format!("{url}/api/health")),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "an API error",
            http.get(format!("{url}/api/me")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "Socket.IO",
            http.get(format!("{url}/socket.io/?EIO=4&transport=polling")),
            StatusCode::OK,
        ),
    ];
    for (what, request, status) in answers {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        assert_security_headers(what, response.headers());
        // Site files say how they are cached (tests/server/site.rs);
        // everything else, pages with their nonce first, is never stored.
        let file = what == "a file";
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some(if file { "no-cache" } else { "no-store" }),
            "{what}"
        );
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{what}: no HSTS without an https public URL"
        );
    }
}

#[tokio::test]
async fn each_page_has_its_own_nonce_and_its_scripts_carry_it() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let response = reqwest::get(app.url()).await.unwrap();
        let nonce = policy_nonce(response.headers());
        assert!(nonce.len() >= 16, "a nonce of 128 bits: {nonce}");
        let html = response.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts >= 1, "the hydration script: {html}");
        assert_eq!(
            html.matches(&format!("<script type=\"module\" nonce=\"{nonce}\""))
                .count()
                + html.matches(&format!("<script nonce=\"{nonce}\"")).count(),
            scripts,
            "every inline script carries the policy's nonce {nonce}: {html}"
        );
        assert!(!html.contains("style=\""), "no inline styles: {html}");
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce for every response");
}

fn set_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// `name=value` of a `Set-Cookie`, as a `Cookie` header sends it back.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_https_public_url_makes_the_cookie_secure_and_turns_on_hsts() {
    let app = spawn_app_with(&["--public-url", "https://chat.example.com"]).await;
    let registered = app.register("alice").await;
    let login = reqwest::Client::new()
        .post(format!("{}/api/login", app.url()))
        .json(&json!({ "username": "alice", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    for (what, response) in [("register", &registered), ("login", &login)] {
        let cookie = set_cookie(response);
        assert!(
            cookie.starts_with("__Host-chatroom_token="),
            "{what}: {cookie}"
        );
        for attribute in ["; Secure", "; Path=/", "; HttpOnly", "; SameSite=Strict"] {
            assert!(
                cookie.contains(attribute),
                "{what}: {attribute} missing: {cookie}"
            );
        }
        assert!(
            !cookie.contains("Domain"),
            "a __Host- cookie has no Domain: {cookie}"
        );
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{what}"
        );
    }
    let page = reqwest::get(app.url()).await.unwrap();
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // The token is read from the name in force, and only from it.
    let me = |cookie: String| {
        reqwest::Client::new()
            .get(format!("{}/api/me", app.url()))
            .header("cookie", cookie)
            .send()
    };
    let pair = cookie_pair(&set_cookie(&login));
    assert_eq!(me(pair.clone()).await.unwrap().status(), StatusCode::OK);
    let plain = pair.replacen("__Host-", "", 1);
    assert_eq!(me(plain).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let out = reqwest::Client::new()
        .post(format!("{}/api/logout", app.url()))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    let cleared = set_cookie(&out);
    assert!(
        cleared.starts_with("__Host-chatroom_token=;") && cleared.contains("; Secure"),
        "{cleared}"
    );
}

#[tokio::test]
async fn without_a_public_url_the_cookie_stays_plain_and_there_is_no_hsts() {
    let app = spawn_app_with(&[]).await;
    let response = app.register("alice").await;
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("chatroom_token="), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "http://localhost keeps working: {cookie}"
    );
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

/// A Socket.IO handshake over WebSocket with these request headers and
/// `auth`: `Ok` once connected, or the `connect_error` reason.
async fn handshake(
    app: &TestApp,
    headers: &[(&'static str, String)],
    auth: Option<Value>,
) -> Result<(), String> {
    let mut request = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut sent_connect = false;
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server answers in time")
            .expect("the connection stays open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        match EnginePacket::decode(text.as_str()).unwrap() {
            EnginePacket::Open(_) if !sent_connect => {
                sent_connect = true;
                let connect = codec::frame(&SocketPacket::connect(auth.clone()));
                socket.send(Message::text(connect)).await.unwrap();
            }
            EnginePacket::Ping => {
                socket
                    .send(Message::text(EnginePacket::Pong.encode()))
                    .await
                    .unwrap();
            }
            EnginePacket::Message(payload) => match SocketPacket::decode(&payload).unwrap() {
                SocketPacket::Connect { .. } => return Ok(()),
                SocketPacket::ConnectError { message, .. } => return Err(message),
                other => panic!("expected connect or connect_error, got {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
}

const REFUSED: &str = "cross-site connection refused: open the chat from its own address";

#[tokio::test]
async fn a_cookie_only_opens_a_socket_from_the_servers_own_origin() {
    let app = spawn_app_with(&[]).await;
    let cookie = cookie_pair(&set_cookie(&app.register("alice").await));
    let own = format!("http://{}", app.addr);
    // Another origin of the same site (another port): SameSite lets the
    // cookie through, the Origin rule does not.
    let other_port = format!("http://127.0.0.1:{}", app.addr.port().wrapping_add(1));
    for origin in [other_port.as_str(), "https://evil.example", "null"] {
        assert_eq!(
            handshake(
                &app,
                &[("cookie", cookie.clone()), ("origin", origin.to_owned())],
                None
            )
            .await,
            Err(REFUSED.to_owned()),
            "{origin}"
        );
    }
    assert_eq!(
        handshake(&app, &[("cookie", cookie.clone()), ("origin", own)], None).await,
        Ok(())
    );
}

#[tokio::test]
async fn tokens_sent_by_the_client_itself_pass_from_any_origin() {
    let app = spawn_app_with(&[]).await;
    let response = app.register("alice").await;
    let cookie = cookie_pair(&set_cookie(&response));
    let token = response.json::<protocol::Session>().await.unwrap().token;
    let foreign = ("origin", "https://evil.example".to_owned());
    assert_eq!(
        handshake(
            &app,
            &[
                ("authorization", format!("Bearer {token}")),
                foreign.clone()
            ],
            None
        )
        .await,
        Ok(()),
        "Authorization: Bearer"
    );
    assert_eq!(
        handshake(
            &app,
            &[("cookie", cookie), foreign.clone()],
            Some(json!({ "token": token }))
        )
        .await,
        Ok(()),
        "auth.token wins over the cookie"
    );
    // Without any login it is the usual refusal, not the Origin rule's.
    assert_eq!(
        handshake(&app, &[foreign], None).await,
        Err("login required".to_owned())
    );
}

#[tokio::test]
async fn guests_pass_from_any_origin() {
    let app = spawn_app().await;
    let foreign = ("origin", "https://evil.example".to_owned());
    assert_eq!(handshake(&app, &[foreign], None).await, Ok(()));
}

#[tokio::test]
async fn with_a_public_url_the_origin_must_be_it() {
    let app = spawn_app_with(&["--public-url", "https://chat.example.com"]).await;
    let cookie = cookie_pair(&set_cookie(&app.register("alice").await));
    let with_origin = |origin: &str| [("cookie", cookie.clone()), ("origin", origin.to_owned())];
    assert_eq!(
        handshake(&app, &with_origin("https://chat.example.com"), None).await,
        Ok(())
    );
    // The request's own Host no longer counts: the public URL does.
    let own = format!("http://{}", app.addr);
    assert_eq!(
        handshake(&app, &with_origin(&own), None).await,
        Err(REFUSED.to_owned())
    );
}
