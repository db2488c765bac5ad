//! The built site's files: hashed names cached for ever, others revalidated
//! with an ETag (304), brotli or gzip as the request accepts, pages that name
//! the hashed files and are never stored, and Socket.IO left uncompressed.

use std::io::Read;
use std::path::Path;

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};

use crate::support::{TestApp, spawn_app_with};

const JS_HASH: &str = "jsHashjsHashjsHash_-12";
const WASM_HASH: &str = "wasmHashwasmHash-_3456";
const CSS_HASH: &str = "cssHashcssHashcssHa-78";

/// A site as `cargo leptos build` writes it with `hash-files`, and the
/// server serving it.
struct SiteApp {
    app: TestApp,
    _site: tempfile::TempDir,
    wasm: Vec<u8>,
    favicon: String,
}

async fn spawn_with_site() -> SiteApp {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    // Compressible, as WASM is: repeated code.
    let wasm: Vec<u8> = (0..64_000u32).map(|i| (i % 251) as u8).collect();
    write(&pkg, &format!("chatroom.{WASM_HASH}.wasm"), &wasm);
    let js = "export function hydrate() { return 'chat'; }\n".repeat(100);
    write(&pkg, &format!("chatroom.{JS_HASH}.js"), js.as_bytes());
    let css = "body { margin: 0 }\n".repeat(100);
    write(&pkg, &format!("chatroom.{CSS_HASH}.css"), css.as_bytes());
    let favicon = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\">{}</svg>",
        "<g/>".repeat(400)
    );
    write(site.path(), "favicon.svg", favicon.as_bytes());
    let root = site.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(&["--site-root", &root]).await;
    SiteApp {
        app,
        _site: site,
        wasm,
        favicon,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

async fn get(url: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn pages_name_the_hashed_files_and_are_never_stored() {
    let site = spawn_with_site().await;
    let page = get(&site.app.url(), &[]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        header(&page, CACHE_CONTROL),
        "no-store",
        "a page carries its own nonce"
    );
    let html = page.text().await.unwrap();
    for name in [
        format!("/pkg/chatroom.{JS_HASH}.js"),
        format!("/pkg/chatroom.{WASM_HASH}.wasm"),
        format!("/pkg/chatroom.{CSS_HASH}.css"),
    ] {
        assert!(html.contains(&name), "the page names {name}: {html}");
    }
}

#[tokio::test]
async fn hashed_files_are_immutable_in_the_encoding_asked_for() {
    let site = spawn_with_site().await;
    let url = format!("{}/pkg/chatroom.{WASM_HASH}.wasm", site.app.url());

    let br = get(&url, &[(ACCEPT_ENCODING, "gzip, deflate, br, zstd")]).await;
    assert_eq!(br.status(), 200);
    assert_eq!(header(&br, CONTENT_ENCODING), "br");
    assert_eq!(header(&br, CONTENT_TYPE), "application/wasm");
    assert_eq!(
        header(&br, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&br, VARY), "accept-encoding");
    let body = br.bytes().await.unwrap();
    assert!(
        body.len() < site.wasm.len() / 4,
        "compressed: {} bytes",
        body.len()
    );
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut unpacked).unwrap();
    assert_eq!(unpacked, site.wasm);

    let gzip = get(&url, &[(ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(header(&gzip, CONTENT_ENCODING), "gzip");
    let body = gzip.bytes().await.unwrap();
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, site.wasm);

    for accept in ["identity", "br;q=0, gzip;q=0"] {
        let plain = get(&url, &[(ACCEPT_ENCODING, accept)]).await;
        assert_eq!(header(&plain, CONTENT_ENCODING), "", "{accept}");
        assert_eq!(plain.bytes().await.unwrap(), site.wasm, "{accept}");
    }
}

#[tokio::test]
async fn other_files_are_revalidated_with_their_etag() {
    let site = spawn_with_site().await;
    let url = format!("{}/favicon.svg", site.app.url());
    let first = get(&url, &[(ACCEPT_ENCODING, "br")]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&first, CONTENT_TYPE), "image/svg+xml");
    let etag = header(&first, ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let again = get(&url, &[(ACCEPT_ENCODING, "br"), (IF_NONE_MATCH, &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, ETAG), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // The same content asked for without compression: still not modified.
    let plain = get(&url, &[(IF_NONE_MATCH, &format!("W/{etag}"))]).await;
    assert_eq!(plain.status(), 304);

    let other = get(&url, &[(IF_NONE_MATCH, "\"something-else\"")]).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.text().await.unwrap(), site.favicon);
}

#[tokio::test]
async fn a_changed_file_is_served_changed_with_a_new_etag() {
    let site = spawn_with_site().await;
    let url = format!("{}/favicon.svg", site.app.url());
    let before = get(&url, &[]).await;
    let etag = header(&before, ETAG).to_owned();
    let changed = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    write(site._site.path(), "favicon.svg", changed.as_bytes());
    let after = get(&url, &[(IF_NONE_MATCH, &etag)]).await;
    assert_eq!(after.status(), 200, "cargo leptos watch rewrites files");
    assert_ne!(header(&after, ETAG), etag);
    assert_eq!(after.text().await.unwrap(), changed);
}

#[tokio::test]
async fn what_is_not_a_file_gets_the_404_page() {
    let site = spawn_with_site().await;
    for path in [
        "/pkg/missing.js",
        "/../Cargo.toml",
        "/pkg/%2e%2e/%2e%2e/Cargo.toml",
        &format!("/pkg/chatroom.{WASM_HASH}.wasm.br"),
        "/.hidden",
    ] {
        let response = get(&format!("{}{path}", site.app.url()), &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            header(&response, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn pages_and_json_are_compressed_but_socket_io_is_not() {
    let site = spawn_with_site().await;
    let page = get(&site.app.url(), &[(ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, CONTENT_ENCODING), "gzip");

    let handshake = get(
        &format!("{}/socket.io/?EIO=4&transport=polling", site.app.url()),
        &[(ACCEPT_ENCODING, "gzip, br")],
    )
    .await;
    assert_eq!(handshake.status(), 200);
    assert_eq!(header(&handshake, CONTENT_ENCODING), "");
    assert!(handshake.text().await.unwrap().contains("\"sid\""));
}
