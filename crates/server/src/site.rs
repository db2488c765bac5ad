//! The built site's files (the WASM, its JS, the stylesheet, `public/`):
//! where they come from, how they are compressed and cached, and the handler
//! that serves them.
//!
//! - **Where from.** Built with the `embed-site` feature, the server carries
//!   the site in its binary (see build.rs) and needs no folder beside it;
//!   otherwise it reads `--site-root` (`target/site`), noticing files that
//!   change under it (`cargo leptos watch` rewrites them).
//! - **Compressed once.** Each compressible file is sent as brotli or gzip,
//!   whichever the request accepts (`Vary: Accept-Encoding`): `.br` and
//!   `.gz` copies beside the file if a build wrote them (cargo-leptos 0.3.11
//!   does not: its `precompress` is not recognised), or else compressed on
//!   first request and kept in memory, never per request. A release build's
//!   embedded site is also compressed at brotli's best (quality 11, several
//!   times slower than the 9 used on first request, some percent smaller) in
//!   the background from start-up ([`Site::compress_ahead`]); each file's
//!   best copy replaces its first one once made.
//! - **Cached for ever, or revalidated.** cargo-leptos's `hash-files` puts
//!   each build's content hash in the names of the WASM, JS and CSS
//!   (`pkg/chatroom.<hash>.wasm`): those are `immutable` for a year. Every
//!   other file (the favicon) is `no-cache` with an `ETag`, and a request
//!   whose `If-None-Match` names it is answered `304 Not Modified`.
//!
//! Leptos writes the hashed names into the page (`HydrationScripts`,
//! `HashedStylesheet`) from a hash file it looks for beside the server's
//! executable, where cargo-leptos writes it. A server without one there (the
//! embedded binary, copied anywhere; a test) gets the hashes from the
//! site's own file names, written once to a file in the temporary folder
//! for Leptos to read ([`Site::hash_file`]).
//!
//! Pages are not site files: the Leptos routes render them, and what this
//! handler does not find gets the app's own 404 page.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

/// Files whose name carries their content's hash never change: a year,
/// and browsers need not even revalidate them.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

/// Other files may change under the same name: the browser keeps them but
/// asks (`If-None-Match`) before each use.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// cargo-leptos's content hashes: MD5 in unpadded URL-safe base64.
const HASH_LEN: usize = 22;

/// Files smaller than this are sent as they are: compression would save
/// less than a packet.
const COMPRESS_MIN: usize = 1024;

/// Files larger than this (a debug build's WASM, tens of megabytes) are
/// compressed fast rather than small when the server compresses them
/// itself: at the levels used below this size, a megabyte takes a tenth of
/// a second, and each test's server would wait that long for its page.
const COMPRESS_WELL_MAX: usize = 1024 * 1024;

/// One file of the built site, as the binary embeds it (see build.rs).
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Its path under the site root, `/`-separated (`pkg/chatroom.js`).
    pub path: &'static str,
    /// Its content.
    pub bytes: &'static [u8],
    /// Its brotli copy, if the build made one.
    pub br: Option<&'static [u8]>,
    /// Its gzip copy, if the build made one.
    pub gzip: Option<&'static [u8]>,
}

#[cfg(feature = "embed-site")]
mod embedded {
    use super::EmbeddedFile;
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

/// The built site: cheap to clone, every clone the same files.
#[derive(Clone)]
pub struct Site(Arc<Source>);

enum Source {
    /// In the binary: every file loaded at start.
    Embedded(HashMap<&'static str, Arc<Asset>>),
    /// In a folder: each file loaded on first request, again when it changed.
    Disk {
        root: PathBuf,
        loaded: Mutex<HashMap<String, (Stamp, Arc<Asset>)>>,
    },
}

/// What tells a file on disk changed: its size and modification time.
type Stamp = (u64, Option<SystemTime>);

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::Embedded(files) => write!(f, "Site(embedded, {} files)", files.len()),
            Source::Disk { root, .. } => write!(f, "Site({})", root.display()),
        }
    }
}

/// One file, ready to send in each encoding.
struct Asset {
    content_type: HeaderValue,
    cache_control: HeaderValue,
    /// The content's hash, which each representation's `ETag` starts with.
    tag: String,
    identity: Bytes,
    /// Brotli and gzip copies: built with the asset when the build made
    /// them, else on first request.
    compressed: OnceCell<Compressed>,
    /// Copies at the encoders' best, once [`Site::compress_ahead`] made
    /// them: sent instead of `compressed` from then on.
    best: OnceLock<Compressed>,
    /// Whether it is worth compressing at all (text, JS, WASM, SVG …).
    compressible: bool,
    /// Whether the build compressed it (then it is not compressed again).
    precompressed: bool,
}

#[derive(Default)]
struct Compressed {
    br: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// How a response's body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    fn etag_suffix(self) -> &'static str {
        match self {
            Self::Brotli => "-br",
            Self::Gzip => "-gz",
            Self::Identity => "",
        }
    }
}

impl Site {
    /// The site this server serves: the embedded one if the binary has it,
    /// else the folder `root`.
    pub fn open(root: &Path) -> Self {
        #[cfg(feature = "embed-site")]
        {
            let _ = root;
            Self::embedded(embedded::FILES)
        }
        #[cfg(not(feature = "embed-site"))]
        Self::from_disk(root)
    }

    /// The site in folder `root` (which need not exist yet).
    pub fn from_disk(root: &Path) -> Self {
        Self(Arc::new(Source::Disk {
            root: root.to_path_buf(),
            loaded: Mutex::default(),
        }))
    }

    /// A site of files held in memory.
    pub fn embedded(files: &'static [EmbeddedFile]) -> Self {
        let files = files
            .iter()
            .map(|file| {
                let precompressed = file.br.zip(file.gzip).map(|(br, gzip)| Compressed {
                    br: Some(Bytes::from_static(br)),
                    gzip: Some(Bytes::from_static(gzip)),
                });
                let asset = Asset::new(file.path, Bytes::from_static(file.bytes), precompressed);
                (file.path, Arc::new(asset))
            })
            .collect();
        Self(Arc::new(Source::Embedded(files)))
    }

    /// In a release build with the site embedded: compresses each file the
    /// build left uncompressed at the encoders' best, on a blocking thread
    /// from now on, largest (the WASM) first. Requests meanwhile get the
    /// quicker copies; each file's best copy is sent once it is made. Debug
    /// builds skip it: their WASM is tens of megabytes, and their brotli
    /// unoptimised.
    pub fn compress_ahead(&self) {
        let Source::Embedded(files) = &*self.0 else {
            return;
        };
        if cfg!(debug_assertions) {
            return;
        }
        let assets: Vec<Arc<Asset>> = files.values().cloned().collect();
        tokio::task::spawn_blocking(move || compress_best(assets));
    }

    /// Whether the site is in the binary.
    pub fn is_embedded(&self) -> bool {
        matches!(&*self.0, Source::Embedded(_))
    }

    /// The hash file Leptos should read to name the hashed files in pages,
    /// or `None` if the site's files are not hashed. `beside_exe` is the
    /// configured hash file (cargo-leptos writes `hash.txt` beside the
    /// server it builds): used if it is there and this is a folder's site.
    /// Otherwise the hashes are read from the names of the site's files
    /// (`pkg/<output_name>.<hash>.js` …) and written to a file of their own.
    pub fn hash_file(&self, beside_exe: &Path, output_name: &str) -> Option<PathBuf> {
        if let Source::Disk { .. } = &*self.0
            && beside_exe.is_file()
        {
            return Some(beside_exe.to_path_buf());
        }
        let text = hashes_from_names(&self.pkg_file_names(), output_name)?;
        match write_hash_file(&text) {
            Ok(path) => Some(path),
            Err(error) => {
                tracing::error!(%error, "could not write the site's hash file: pages will name unhashed files");
                None
            }
        }
    }

    /// The names of the files directly in `pkg/`.
    fn pkg_file_names(&self) -> Vec<String> {
        match &*self.0 {
            Source::Embedded(files) => files
                .keys()
                .filter_map(|path| path.strip_prefix("pkg/"))
                .filter(|name| !name.contains('/'))
                .map(|name| (*name).to_owned())
                .collect(),
            Source::Disk { root, .. } => std::fs::read_dir(root.join("pkg"))
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|entry| entry.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The answer for a `GET` or `HEAD` of `path`, or `None` if the site
    /// has no such file.
    pub async fn respond(&self, path: &str, request_headers: &HeaderMap) -> Option<Response> {
        let path = site_path(path)?;
        let asset = self.asset(path).await?;
        let encoding = asset.choose(request_headers).await;
        Some(asset.response(encoding, request_headers))
    }

    async fn asset(&self, path: &str) -> Option<Arc<Asset>> {
        match &*self.0 {
            Source::Embedded(files) => files.get(path).cloned(),
            Source::Disk { root, loaded } => {
                let file = root.join(path);
                let metadata = tokio::fs::metadata(&file).await.ok()?;
                if !metadata.is_file() {
                    return None;
                }
                let stamp = (metadata.len(), metadata.modified().ok());
                let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((seen, asset)) = lock().get(path)
                    && *seen == stamp
                {
                    return Some(asset.clone());
                }
                let bytes = tokio::fs::read(&file).await.ok()?;
                let precompressed = read_precompressed(&file, stamp.1).await;
                let asset = Arc::new(Asset::new(path, bytes.into(), precompressed));
                lock().insert(path.to_owned(), (stamp, asset.clone()));
                Some(asset)
            }
        }
    }
}

/// The copies cargo-leptos's `precompress` wrote beside `file`, if both are
/// there and no older than it (`cargo leptos watch` may have rewritten the
/// file since a release build compressed it).
async fn read_precompressed(file: &Path, modified: Option<SystemTime>) -> Option<Compressed> {
    let beside = |extension: &str| {
        let mut name = file.as_os_str().to_owned();
        name.push(extension);
        PathBuf::from(name)
    };
    for copy in [beside(".br"), beside(".gz")] {
        let copied = tokio::fs::metadata(&copy).await.ok()?.modified().ok();
        if copied < modified {
            return None;
        }
    }
    let br = tokio::fs::read(beside(".br")).await.ok()?;
    let gzip = tokio::fs::read(beside(".gz")).await.ok()?;
    Some(Compressed {
        br: Some(br.into()),
        gzip: Some(gzip.into()),
    })
}

/// A request path as a path under the site root, or `None` for anything
/// that is not plainly a file there: `..`, `.` and empty segments, hidden
/// files, backslashes, and the compressed copies themselves.
fn site_path(path: &str) -> Option<&str> {
    let path = path.strip_prefix('/')?;
    let plain = !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty() && !segment.starts_with('.') && !segment.contains(['\\', '\0', ':'])
        })
        && !path.ends_with(".br")
        && !path.ends_with(".gz");
    plain.then_some(path)
}

/// Whether `path` is a file cargo-leptos named by its content hash
/// (`pkg/chatroom.<hash>.wasm`).
fn is_hashed(path: &str) -> bool {
    let Some(name) = path.strip_prefix("pkg/") else {
        return false;
    };
    let mut parts = name.rsplit('.');
    let (_extension, hash) = (parts.next(), parts.next());
    parts.next().is_some() && hash.is_some_and(is_hash)
}

fn is_hash(text: &str) -> bool {
    text.len() == HASH_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The hash file Leptos reads (`js: <hash>` a line, for `js`, `wasm` and
/// `css`), from the names of the files in `pkg/`; `None` unless the JS and
/// the WASM are each there under exactly one hashed name.
fn hashes_from_names(names: &[String], output_name: &str) -> Option<String> {
    let mut text = String::new();
    for extension in ["js", "wasm", "css"] {
        let hashes: Vec<&str> = names
            .iter()
            .filter_map(|name| {
                let rest = name.strip_prefix(output_name)?.strip_prefix('.')?;
                rest.strip_suffix(extension)?.strip_suffix('.')
            })
            .filter(|hash| is_hash(hash))
            .collect();
        match hashes.as_slice() {
            [hash] => text.push_str(&format!("{extension}: {hash}\n")),
            [] if extension == "css" => {}
            _ => return None,
        }
    }
    Some(text)
}

/// Writes `text` to a file named by its content in the temporary folder
/// (servers of the same build share it), unless it is there already.
fn write_hash_file(text: &str) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "chatroom-site-hashes-{}.txt",
        content_tag(text.as_bytes())
    ));
    if std::fs::read_to_string(&path).is_ok_and(|there| there == text) {
        return Ok(path);
    }
    // Written whole under a name of its own, then renamed: a server
    // starting meanwhile never reads half a file.
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::File::create(&partial)?.write_all(text.as_bytes())?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// A hash of `bytes` for `ETag`s and file names: 64 bits, in hex.
fn content_tag(bytes: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl Asset {
    fn new(path: &str, identity: Bytes, precompressed: Option<Compressed>) -> Self {
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let compressible = match (mime.type_(), mime.subtype().as_str()) {
            (mime_guess::mime::TEXT, _) => true,
            (_, "javascript" | "json" | "wasm" | "xml" | "svg" | "x-icon") => true,
            (_, subtype) => subtype.ends_with("+xml") || subtype.ends_with("+json"),
        } && identity.len() >= COMPRESS_MIN;
        let compressed_by_build = precompressed.is_some();
        let content_type = HeaderValue::from_str(mime.essence_str())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        Self {
            content_type,
            cache_control: if is_hashed(path) {
                IMMUTABLE
            } else {
                REVALIDATE
            },
            tag: content_tag(&identity),
            compressed: precompressed.map_or_else(OnceCell::new, |c| OnceCell::new_with(Some(c))),
            best: OnceLock::new(),
            precompressed: compressed_by_build,
            identity,
            compressible,
        }
    }

    /// The best encoding the request accepts that this file has.
    async fn choose(&self, request: &HeaderMap) -> Encoding {
        if !self.compressible {
            return Encoding::Identity;
        }
        let accepted = accepted_encodings(request);
        if accepted == [Encoding::Identity] {
            return Encoding::Identity;
        }
        let compressed = match self.best.get() {
            Some(best) => best,
            None => self.compressed().await,
        };
        accepted
            .into_iter()
            .find(|encoding| match encoding {
                Encoding::Brotli => compressed.br.is_some(),
                Encoding::Gzip => compressed.gzip.is_some(),
                Encoding::Identity => true,
            })
            .unwrap_or(Encoding::Identity)
    }

    /// The compressed copies, made now if this is the first time.
    async fn compressed(&self) -> &Compressed {
        self.compressed
            .get_or_init(|| async {
                let identity = self.identity.clone();
                tokio::task::spawn_blocking(move || compress(&identity, Effort::Quick))
                    .await
                    .unwrap_or_else(|error| {
                        tracing::error!(%error, "compressing a site file failed");
                        Compressed::default()
                    })
            })
            .await
    }

    fn response(&self, encoding: Encoding, request: &HeaderMap) -> Response {
        let etag = format!("\"{}{}\"", self.tag, encoding.etag_suffix());
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, self.cache_control.clone());
        if let Ok(etag) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, etag);
        }
        if self.compressible {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if self.is_named_in(request) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        let body = match encoding {
            Encoding::Identity => self.identity.clone(),
            Encoding::Brotli | Encoding::Gzip => {
                let compressed = self.best.get().or_else(|| self.compressed.get());
                let (bytes, name) = match encoding {
                    Encoding::Brotli => (compressed.and_then(|c| c.br.clone()), "br"),
                    _ => (compressed.and_then(|c| c.gzip.clone()), "gzip"),
                };
                match bytes {
                    Some(bytes) => {
                        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
                        bytes
                    }
                    None => self.identity.clone(),
                }
            }
        };
        (StatusCode::OK, headers, Body::from(body)).into_response()
    }

    /// Whether the request's `If-None-Match` names any representation of
    /// this content (weak comparison, as RFC 9110 says for it).
    fn is_named_in(&self, request: &HeaderMap) -> bool {
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim())
            .any(|tag| {
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag == "*"
                    || tag
                        .strip_prefix('"')
                        .and_then(|t| t.strip_suffix('"'))
                        .and_then(|t| t.strip_prefix(self.tag.as_str()))
                        .is_some_and(|suffix| ["", "-br", "-gz"].contains(&suffix))
            })
    }
}

/// The encodings a request accepts, best first: brotli, then gzip, then
/// none, leaving out those it refuses (`;q=0`).
fn accepted_encodings(request: &HeaderMap) -> Vec<Encoding> {
    let mut br = false;
    let mut gzip = false;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match name.as_str() {
                "br" => br = true,
                "gzip" | "x-gzip" => gzip = true,
                "*" => (br, gzip) = (true, true),
                _ => {}
            }
        }
    }
    let mut accepted = Vec::with_capacity(3);
    if br {
        accepted.push(Encoding::Brotli);
    }
    if gzip {
        accepted.push(Encoding::Gzip);
    }
    accepted.push(Encoding::Identity);
    accepted
}

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effort {
    /// While a request waits: brotli 9 (within a few percent of 11 at a
    /// fraction of its time), or 1 past [`COMPRESS_WELL_MAX`].
    Quick,
    /// Ahead of requests: brotli 11 with a larger window.
    Best,
}

/// Makes the best copies of every compressible file the build did not
/// compress, largest first.
fn compress_best(mut assets: Vec<Arc<Asset>>) {
    assets.retain(|a| a.compressible && !a.precompressed && a.best.get().is_none());
    assets.sort_by_key(|a| std::cmp::Reverse(a.identity.len()));
    let started = std::time::Instant::now();
    let (mut before, mut after) = (0, 0);
    for asset in &assets {
        let best = compress(&asset.identity, Effort::Best);
        before += asset.identity.len();
        after += best.br.as_ref().map_or(asset.identity.len(), Bytes::len);
        // Only this thread sets it.
        let _ = asset.best.set(best);
    }
    tracing::info!(
        files = assets.len(),
        bytes = before,
        brotli_bytes = after,
        ms = started.elapsed().as_millis() as u64,
        "site compressed at brotli's best"
    );
}

/// Brotli and gzip copies of `bytes`, each kept only if smaller.
fn compress(bytes: &[u8], effort: Effort) -> Compressed {
    let well = bytes.len() <= COMPRESS_WELL_MAX;
    let params = match effort {
        Effort::Best => brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 24,
            ..Default::default()
        },
        Effort::Quick => brotli::enc::BrotliEncoderParams {
            quality: if well { 9 } else { 1 },
            lgwin: 22,
            ..Default::default()
        },
    };
    let mut br = Vec::new();
    let br = brotli::BrotliCompress(&mut &bytes[..], &mut br, &params)
        .ok()
        .map(|_| br);
    let level = flate2::Compression::new(if well || effort == Effort::Best { 9 } else { 1 });
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), level);
    let gzip = gzip.write_all(bytes).and_then(|()| gzip.finish()).ok();
    let smaller = |c: Option<Vec<u8>>| c.filter(|c| c.len() < bytes.len()).map(Bytes::from);
    Compressed {
        br: smaller(br),
        gzip: smaller(gzip),
    }
}

/// The fallback of the router: a site file for `GET` and `HEAD`, else
/// `not_found` (the app's own 404 page).
pub async fn serve_or<F, Fut>(State(site): State<Site>, request: Request, not_found: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if matches!(*request.method(), Method::GET | Method::HEAD)
        && let Some(response) = site.respond(request.uri().path(), request.headers()).await
    {
        return response;
    }
    not_found(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn only_plain_paths_under_the_root_are_files() {
        assert_eq!(site_path("/pkg/chatroom.js"), Some("pkg/chatroom.js"));
        assert_eq!(site_path("/favicon.svg"), Some("favicon.svg"));
        for bad in [
            "/",
            "",
            "/pkg/",
            "/../etc/passwd",
            "/pkg/../x",
            "/./x",
            "//x",
            "/.env",
            "/pkg\\x",
            "/c:x",
            "/pkg/chatroom.wasm.br",
            "/x.gz",
        ] {
            assert_eq!(site_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn hashed_names_are_those_cargo_leptos_writes() {
        assert!(is_hashed("pkg/chatroom.aB3-_9aB3-_9aB3-_9aB3-.wasm"));
        assert!(!is_hashed("pkg/chatroom.wasm"));
        assert!(!is_hashed("pkg/chatroom.short.wasm"));
        assert!(
            !is_hashed("favicon.aB3-_9aB3-_9aB3-_9aB3-.svg"),
            "only under pkg/"
        );
    }

    #[test]
    fn the_hash_file_comes_from_the_names() {
        let h = "aB3-_9aB3-_9aB3-_9aB3-";
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let found = hashes_from_names(
            &names(&[
                &format!("chatroom.{h}.js"),
                &format!("chatroom.{h}.wasm"),
                "chatroom.css",
                "other.js",
            ]),
            "chatroom",
        );
        assert_eq!(
            found.as_deref(),
            Some(format!("js: {h}\nwasm: {h}\n").as_str())
        );
        assert_eq!(
            hashes_from_names(&names(&["chatroom.js", "chatroom.wasm"]), "chatroom"),
            None
        );
        let two = names(&[
            &format!("chatroom.{h}.js"),
            "chatroom.bbbbbbbbbbbbbbbbbbbbbb.js",
            &format!("chatroom.{h}.wasm"),
        ]);
        assert_eq!(
            hashes_from_names(&two, "chatroom"),
            None,
            "which one is not known"
        );
    }

    #[test]
    fn brotli_is_preferred_and_refusals_are_heard() {
        use Encoding::*;
        let accept = |v: &str| accepted_encodings(&headers(&[(header::ACCEPT_ENCODING, v)]));
        assert_eq!(accept("gzip, deflate, br, zstd"), [Brotli, Gzip, Identity]);
        assert_eq!(accept("gzip"), [Gzip, Identity]);
        assert_eq!(accept("br;q=0, gzip;q=0.5"), [Gzip, Identity]);
        assert_eq!(accept("*"), [Brotli, Gzip, Identity]);
        assert_eq!(accepted_encodings(&HeaderMap::new()), [Identity]);
    }

    #[test]
    fn compressed_copies_are_smaller_and_decompress_to_the_file() {
        let text = "let chat = 'room';\n".repeat(500);
        let compressed = compress(text.as_bytes(), Effort::Quick);
        let gzip = compressed.gzip.unwrap();
        assert!(gzip.len() < text.len() / 10);
        let mut back = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut back)
            .unwrap();
        assert_eq!(back, text);
        let br = compressed.br.unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, text.as_bytes());
        assert!(
            compress(b"x", Effort::Quick).br.is_none(),
            "a copy no smaller is not kept"
        );
    }

    #[tokio::test]
    async fn best_copies_replace_the_first_ones_once_made() {
        // Text that brotli 11 packs tighter than 9.
        let text: String = (0..4000u32)
            .map(|i| {
                format!(
                    "let v{} = {};\n",
                    i % 97,
                    i.wrapping_mul(2_654_435_761) % 1000
                )
            })
            .collect();
        let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let files: &'static [EmbeddedFile] = Box::leak(Box::new([EmbeddedFile {
            path: "pkg/chatroom.js",
            bytes,
            br: None,
            gzip: None,
        }]));
        let site = Site::embedded(files);
        let Source::Embedded(assets) = &*site.0 else {
            unreachable!()
        };
        let asset = assets["pkg/chatroom.js"].clone();
        let brotli = headers(&[(header::ACCEPT_ENCODING, "br")]);
        let body = |response: Response| async {
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
        };
        let first = body(site.respond("/pkg/chatroom.js", &brotli).await.unwrap()).await;

        compress_best(vec![asset.clone()]);
        let best = body(site.respond("/pkg/chatroom.js", &brotli).await.unwrap()).await;
        assert!(best.len() < first.len(), "{} < {}", best.len(), first.len());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &best[..], &mut back).unwrap();
        assert_eq!(back, bytes);
        let gzip = headers(&[(header::ACCEPT_ENCODING, "gzip")]);
        let response = site.respond("/pkg/chatroom.js", &gzip).await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    }
}
