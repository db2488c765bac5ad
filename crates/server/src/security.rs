//! HTTP security: the headers every answer carries, the Content-Security-
//! Policy with its per-response nonce, the public URL (which decides the
//! login cookie's attributes and HSTS), and the Origin rule for Socket.IO
//! handshakes that a cookie authenticates.
//!
//! The policy allows scripts only from the site itself and the one inline
//! script Leptos writes (it carries the response's nonce), WebAssembly
//! compilation (`'wasm-unsafe-eval'`), styles only from the site's
//! stylesheet (no `style` attributes: name colours are classes), and
//! connections only to the site (`'self'` covers its WebSocket too). Pages
//! cannot be framed, and forms post only to the site.
//!
//! The Origin rule exists because `SameSite=Strict` stops other *sites*, not
//! other *origins* of the same site: a page on another port of the same host,
//! or on another subdomain, would otherwise open a socket with the user's
//! cookie. Clients that send their token themselves (`auth.token`,
//! `Authorization: Bearer`) cannot be made to by another page, so the rule
//! leaves them alone.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::uri::{Authority, Uri};
use axum::middleware::Next;
use axum::response::Response;
use leptos::nonce::Nonce;

use crate::auth::{self, SessionCookie};

/// `Strict-Transport-Security` when the public URL is `https://`: a year,
/// the usual value for a site that is HTTPS only. Subdomains are not
/// included: the server cannot know they are HTTPS too.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Where Socket.IO is served; its answers get the policy without a nonce
/// (they are never HTML), and its requests are left untouched (socketioxide
/// keeps each handshake request for the connection's life).
const SOCKET_IO_PATH: &str = "/socket.io/";

/// An origin: scheme, host and port, as `https://chat.example.com` or
/// `http://127.0.0.1:3000`. Parsed from `--public-url` and from `Origin`
/// headers alike, so the two compare as values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `https` rather than `http`.
    https: bool,
    /// The host, in lower case (an IPv6 address keeps its brackets).
    host: String,
    /// The port, the scheme's default when the URL names none.
    port: u16,
}

impl Origin {
    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    fn default_port(https: bool) -> u16 {
        if https { 443 } else { 80 }
    }

    /// Whether this origin is the one a request's `Host` header names, on
    /// host and port only: behind a TLS proxy the server cannot tell the
    /// scheme. A `Host` without a port means the scheme's default port.
    fn is_host(&self, host: &str) -> bool {
        host.parse::<Authority>().is_ok_and(|authority| {
            authority.host().eq_ignore_ascii_case(&self.host)
                && authority
                    .port_u16()
                    .unwrap_or(Self::default_port(self.https))
                    == self.port
        })
    }
}

impl FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s
            .trim()
            .parse()
            .map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{s:?} must start with https:// or http://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{s:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{s:?} must not carry a user or password"));
        }
        // The app is served from the root: `__Host-` cookies need `Path=/`,
        // and the page's links are absolute.
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "{s:?} must be an origin only (scheme, host, port): the chat is served from /"
            ));
        }
        if authority.host().is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        Ok(Self {
            https,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(Self::default_port(https)),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if self.port != Self::default_port(self.https) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Why a Socket.IO handshake was refused by the Origin rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cross-site connection refused: open the chat from its own address")]
pub struct CrossSite;

/// The security settings the router and the socket handshake share; cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct Security {
    /// The login cookie's name and attributes, which follow the public URL.
    pub cookie: SessionCookie,
    /// Where users reach the server (`--public-url`), if configured.
    public: Option<Arc<Origin>>,
    /// The live-reload socket's source for `connect-src`, under
    /// `cargo leptos watch` only.
    live_reload: Option<Arc<str>>,
}

impl Security {
    /// The settings for a server reached at `public` (`None`: wherever the
    /// request says), with `cargo leptos watch`'s live-reload socket on
    /// `live_reload_port` allowed if given.
    pub fn new(public: Option<Origin>, live_reload_port: Option<u32>) -> Self {
        let https = public.as_ref().is_some_and(Origin::is_https);
        Self {
            cookie: SessionCookie::new(https),
            public: public.map(Arc::new),
            // The reload script connects to the page's own host name on
            // that port, which the server does not know in advance.
            live_reload: live_reload_port
                .map(|port| format!(" ws://*:{port} wss://*:{port}").into()),
        }
    }

    /// Whether every answer must carry `Strict-Transport-Security`.
    fn hsts(&self) -> bool {
        self.public.as_deref().is_some_and(Origin::is_https)
    }

    /// The Content-Security-Policy, allowing inline scripts that carry
    /// `nonce` (none: no inline script at all).
    pub fn content_security_policy(&self, nonce: Option<&str>) -> String {
        let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
        let live_reload = self.live_reload.as_deref().unwrap_or_default();
        format!(
            "default-src 'self'; \
             script-src 'self'{nonce} 'wasm-unsafe-eval'; \
             style-src 'self'; \
             connect-src 'self'{live_reload}; \
             img-src 'self' data:; \
             object-src 'none'; \
             base-uri 'none'; \
             form-action 'self'; \
             frame-ancestors 'none'"
        )
    }

    /// The Origin rule for a Socket.IO handshake with these headers; the
    /// handshake's `auth` carried a token if `auth_token`.
    ///
    /// Only a handshake that the login cookie authenticates is checked:
    /// a token in `auth` or in `Authorization: Bearer` wins over the cookie,
    /// and a guest has no cookie. Its `Origin` must then be the public URL's
    /// origin, or, without one, name the host and port of the request's own
    /// `Host`. A handshake without `Origin` is not from a browser page (every
    /// browser sends it on WebSocket and cross-origin requests) and passes.
    pub fn check_handshake(&self, headers: &HeaderMap, auth_token: bool) -> Result<(), CrossSite> {
        if auth_token
            || auth::bearer_token(headers).is_some()
            || self.cookie.token(headers).is_none()
        {
            return Ok(());
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().ok().and_then(|o| o.parse::<Origin>().ok());
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let same = match (origin, self.public.as_deref()) {
            (Some(origin), Some(public)) => origin == *public,
            (Some(origin), None) => host.is_some_and(|host| origin.is_host(host)),
            // `Origin: null` (a sandboxed frame, a file) or garbage.
            (None, _) => false,
        };
        if same { Ok(()) } else { Err(CrossSite) }
    }
}

/// Middleware: the security headers on every answer (pages, files, the API,
/// Socket.IO, errors), with a fresh nonce for each request that may render
/// a page. The nonce goes into the request's extensions for
/// [`provide_nonce`], so the page's inline script carries the nonce that its
/// own header allows.
pub async fn headers(
    State(security): State<Security>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let nonce = (!path.starts_with(SOCKET_IO_PATH)).then(Nonce::new);
    if let Some(nonce) = &nonce {
        request.extensions_mut().insert(nonce.clone());
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let policy = security.content_security_policy(nonce.as_deref());
    match HeaderValue::try_from(policy) {
        Ok(policy) => {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        // Only a nonce or port could make it invalid, and neither can; if it
        // ever did, the strictest policy is still better than none.
        Err(error) => {
            tracing::error!(%error, "the content security policy is not a header value");
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'"),
            );
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if security.hsts() {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if api {
        // Answers carry tokens and who is logged in: no cache keeps them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry this response's nonce: never reused. (The site's
        // files say how they are cached: see `crate::site`.)
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Leptos context for a page render: the nonce [`headers`] put in this
/// request's policy, for the hydration script (`use_nonce`). Runs after
/// leptos_axum's own contexts, so it replaces the nonce leptos_axum made.
pub fn provide_nonce() {
    use leptos::prelude::{provide_context, use_context};
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Nonce>().cloned());
    if let Some(nonce) = nonce {
        provide_context(nonce);
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn origin(s: &str) -> Origin {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn origins_parse_with_their_default_ports() {
        assert_eq!(
            origin("https://Chat.Example.com/"),
            origin("https://chat.example.com:443")
        );
        assert_eq!(
            origin("https://chat.example.com").to_string(),
            "https://chat.example.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:3000").to_string(),
            "http://127.0.0.1:3000"
        );
        assert_ne!(
            origin("http://chat.example.com"),
            origin("https://chat.example.com")
        );
        assert!(origin("https://x").is_https());
        assert!(!origin("http://[::1]:3000").is_https());
    }

    #[test]
    fn a_public_url_is_an_origin_and_nothing_else() {
        for bad in [
            "chat.example.com",
            "ftp://chat.example.com",
            "https://",
            "https://user:pw@chat.example.com",
            "https://chat.example.com/chat",
            "https://chat.example.com/?a=b",
            "null",
            "",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_policy_has_every_directive_and_its_nonce() {
        let policy = Security::new(None, None).content_security_policy(Some("abc"));
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'",
            "style-src 'self';",
            "connect-src 'self';",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} missing: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let without = Security::new(None, None).content_security_policy(None);
        assert!(
            without.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{without}"
        );
        let watching = Security::new(None, Some(3001)).content_security_policy(None);
        assert!(
            watching.contains("connect-src 'self' ws://*:3001 wss://*:3001;"),
            "{watching}"
        );
    }

    #[test]
    fn https_public_urls_turn_on_hsts_and_the_secure_cookie() {
        let https = Security::new(Some(origin("https://chat.example.com")), None);
        assert!(https.hsts());
        assert_eq!(https.cookie, SessionCookie::new(true));
        let http = Security::new(Some(origin("http://chat.example.com")), None);
        assert!(!http.hsts());
        assert_eq!(http.cookie, SessionCookie::new(false));
        assert!(!Security::new(None, None).hsts());
    }

    const COOKIE: (&str, &str) = ("cookie", "chatroom_token=t");

    #[test]
    fn without_a_public_url_the_origin_must_name_the_requests_host() {
        let security = Security::new(None, None);
        let check =
            |pairs: &[(&'static str, &str)]| security.check_handshake(&headers(pairs), false);
        let host = ("host", "127.0.0.1:3000");
        // Scheme-agnostic: behind a TLS proxy the page is https.
        assert_eq!(
            check(&[COOKIE, host, ("origin", "http://127.0.0.1:3000")]),
            Ok(())
        );
        assert_eq!(
            check(&[COOKIE, host, ("origin", "https://127.0.0.1:3000")]),
            Ok(())
        );
        // Same site, another origin: the case SameSite cannot stop.
        assert_eq!(
            check(&[COOKIE, host, ("origin", "http://127.0.0.1:8080")]),
            Err(CrossSite)
        );
        assert_eq!(
            check(&[COOKIE, host, ("origin", "http://localhost:3000")]),
            Err(CrossSite)
        );
        assert_eq!(
            check(&[COOKIE, host, ("origin", "https://evil.example")]),
            Err(CrossSite)
        );
        assert_eq!(check(&[COOKIE, host, ("origin", "null")]), Err(CrossSite));
        assert_eq!(
            check(&[COOKIE, ("origin", "http://127.0.0.1:3000")]),
            Err(CrossSite)
        );
        // A Host without a port is the default port of the page's scheme.
        let bare = ("host", "Chat.Example.com");
        assert_eq!(
            check(&[COOKIE, bare, ("origin", "https://chat.example.com")]),
            Ok(())
        );
        assert_eq!(
            check(&[COOKIE, bare, ("origin", "http://chat.example.com")]),
            Ok(())
        );
        assert_eq!(
            check(&[COOKIE, bare, ("origin", "https://chat.example.com:8443")]),
            Err(CrossSite)
        );
        assert_eq!(
            check(&[
                COOKIE,
                ("host", "[::1]:3000"),
                ("origin", "http://[::1]:3000")
            ]),
            Ok(())
        );
    }

    #[test]
    fn with_a_public_url_the_origin_must_be_it() {
        let security = Security::new(Some(origin("https://chat.example.com")), None);
        let check =
            |pairs: &[(&'static str, &str)]| security.check_handshake(&headers(pairs), false);
        let cookie = ("cookie", "__Host-chatroom_token=t");
        // The Host behind a proxy is whatever the proxy says: not consulted.
        let host = ("host", "127.0.0.1:3000");
        assert_eq!(
            check(&[cookie, host, ("origin", "https://chat.example.com")]),
            Ok(())
        );
        assert_eq!(
            check(&[cookie, host, ("origin", "http://chat.example.com")]),
            Err(CrossSite)
        );
        assert_eq!(
            check(&[cookie, host, ("origin", "http://127.0.0.1:3000")]),
            Err(CrossSite)
        );
        assert_eq!(
            check(&[cookie, host, ("origin", "https://other.example.com")]),
            Err(CrossSite)
        );
    }

    #[test]
    fn only_the_cookie_is_checked() {
        let security = Security::new(None, None);
        let foreign = [
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.example"),
        ];
        // A token in `auth` or `Authorization` was sent by the client itself.
        assert_eq!(
            security.check_handshake(&headers(&[COOKIE, foreign[0], foreign[1]]), true),
            Ok(())
        );
        let bearer = ("authorization", "Bearer t");
        assert_eq!(
            security.check_handshake(&headers(&[COOKIE, bearer, foreign[0], foreign[1]]), false),
            Ok(())
        );
        // A guest, or a cookie of another name, carries no login.
        assert_eq!(security.check_handshake(&headers(&foreign), false), Ok(()));
        let other = ("cookie", "__Host-chatroom_token=t; theme=dark");
        assert_eq!(
            security.check_handshake(&headers(&[other, foreign[0], foreign[1]]), false),
            Ok(())
        );
        // Not a browser page: no Origin.
        assert_eq!(
            security.check_handshake(&headers(&[COOKIE, foreign[0]]), false),
            Ok(())
        );
    }
}
