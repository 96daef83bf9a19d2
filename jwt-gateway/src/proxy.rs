//! Forwarding to the upstream: headers per RFC 9110 §7.6, bodies streamed both
//! ways, 502 and 504 on upstream failures.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_jwt_auth::{Claims, Style};

use super::body::{client_fault, ClientBody};
use super::config::{Config, TrustedProxies, Upstream};
use super::server::error_response;
use super::users::Profile;

/// The response body of the proxy: the upstream's, streamed, or one of the
/// gateway's own short answers.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Identity headers the gateway sets; a client's copies are always removed.
pub static X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
/// The granted scopes, space-separated.
pub static X_AUTH_SCOPES: HeaderName = HeaderName::from_static("x-auth-scopes");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// The issuer of the token whose `sub` is in `X-Auth-Subject`; absent for the
/// gateway's own tokens when it has no `--issuer`.
pub static X_AUTH_ISSUER: HeaderName = HeaderName::from_static("x-auth-issuer");

/// What a client could say about its own address, scheme, host or path: from
/// a client that is not a trusted proxy, removed (and the gateway's own
/// `X-Forwarded-For`, `-Proto`, `-Host` and `X-Real-IP` put in).
static FORWARDING: [HeaderName; 10] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-client-ip"),
];

/// Hop-by-hop fields (RFC 9110 §7.6.1), plus `Proxy-Authorization` and
/// `Proxy-Authenticate`, which are meant for this hop (§11.7), and `Expect`,
/// which this hop has already answered.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Set in the response extensions when the client's body was at fault:
/// `body_malformed` (400), `body_timeout` (408) or `body_too_large` (413).
#[derive(Debug, Clone, Copy)]
pub struct ClientFault(pub &'static str);

/// Set in the response extensions when the upstream failed: `unreachable`
/// (502) or `timeout` (504).
#[derive(Debug, Clone, Copy)]
pub struct UpstreamFailure(pub &'static str);

/// The peer address of a request's connection, set by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The forwarding half of the gateway.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: Client<HttpConnector, ClientBody>,
    upstream: Upstream,
    timeout: Duration,
    max_body: u64,
    forward_authorization: bool,
    claim_headers: Vec<(String, HeaderName)>,
    style: Style,
    trusted_proxies: TrustedProxies,
    allow_underscores: bool,
}

impl Proxy {
    /// A proxy to `upstream` with the settings of `config`.
    pub fn new(upstream: Upstream, config: &Config) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .set_host(false)
            .build(connector);
        Self {
            client,
            upstream,
            timeout: config.upstream_timeout,
            max_body: config.max_body,
            forward_authorization: config.forward_authorization,
            claim_headers: config.claim_headers.clone(),
            style: config.style,
            trusted_proxies: config.trusted_proxies.clone(),
            allow_underscores: config.allow_underscores_in_headers,
        }
    }

    /// Forwards `req`; `identity` is `Some` for an authenticated request.
    pub async fn forward(
        &self,
        req: Request<ClientBody>,
        identity: Option<(&Claims, &Profile)>,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = req.into_parts();
        let too_large = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|len| len > self.max_body);
        if too_large {
            return self.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large",
            );
        }
        let client_addr = parts.extensions.get::<ClientAddr>().map(|a| a.0);
        // `server` has checked `Host` and put an absolute-form authority in it.
        let original_host = parts.headers.get(HOST).cloned();
        // Mapped claims come from the token itself, read before the
        // `Authorization` header is (maybe) removed.
        let mapped = match identity {
            Some(_) if !self.claim_headers.is_empty() => self.mapped_claims(&parts.headers),
            _ => Vec::new(),
        };

        let headers = &mut parts.headers;
        remove_hop_by_hop(headers);
        // The client's copies of what the gateway vouches for go first, also
        // when `Connection` named them (already removed above), and also when
        // spelled with `_` (CGI reads `X_Auth_Subject` as `X-Auth-Subject`).
        self.remove_vouched(headers);
        headers.remove(header::EXPECT);
        if !self.forward_authorization {
            headers.remove(AUTHORIZATION);
        }
        if let Ok(host) = HeaderValue::from_str(self.upstream.authority.as_str()) {
            headers.insert(HOST, host);
        }
        let trusted = client_addr.is_some_and(|a| self.trusted_proxies.contains(a.ip()));
        if !trusted {
            for name in &FORWARDING {
                headers.remove(name);
            }
        }
        let peer = client_addr.and_then(|a| HeaderValue::from_str(&a.ip().to_string()).ok());
        match (&peer, trusted) {
            (Some(ip), true) => append_forwarded_for(headers, ip),
            (Some(ip), false) => {
                headers.insert(&X_FORWARDED_FOR, ip.clone());
                headers.insert(&X_REAL_IP, ip.clone());
            }
            (None, _) => {}
        }
        if !trusted {
            headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("http"));
            if let Some(h) = original_host {
                headers.insert(&X_FORWARDED_HOST, h);
            }
        }
        if let Some((claims, profile)) = identity {
            let Some(sub) = profile.subject.clone() else {
                return self.error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The token subject cannot be sent in a header",
                );
            };
            headers.insert(&X_AUTH_SUBJECT, sub);
            headers.insert(&X_AUTH_SCOPES, scopes_header(claims));
            // `sub` is unique within its issuer only (RFC 7519 §4.1.2).
            if let Some(iss) = claims.iss().and_then(|i| HeaderValue::from_str(i).ok()) {
                headers.insert(&X_AUTH_ISSUER, iss);
            }
            for (name, value) in mapped {
                headers.insert(name, value);
            }
        }

        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target = format!("{}{path_and_query}", self.upstream.base_path);
        parts.uri = match Uri::builder()
            .scheme(self.upstream.scheme.clone())
            .authority(self.upstream.authority.clone())
            .path_and_query(target)
            .build()
        {
            Ok(uri) => uri,
            Err(_) => {
                return self.error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request target cannot be forwarded",
                );
            }
        };
        parts.version = Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, body);

        match tokio::time::timeout(self.timeout, self.client.request(upstream_req)).await {
            Ok(Ok(res)) => {
                let (mut parts, body) = res.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Either::Left(body))
            }
            Ok(Err(e)) => {
                if let Some(fault) = client_fault(&e) {
                    let (status, code, description) = fault.answer();
                    let mut res = self.error(status, code, description);
                    res.extensions_mut().insert(ClientFault(fault.kind()));
                    res
                } else if timed_out(&e) {
                    tracing::warn!(upstream = %self.upstream, "upstream connect timeout");
                    self.failure(StatusCode::GATEWAY_TIMEOUT, "timeout")
                } else {
                    tracing::warn!(upstream = %self.upstream, error = %error_chain(&e), "upstream unreachable");
                    self.failure(StatusCode::BAD_GATEWAY, "unreachable")
                }
            }
            Err(_) => {
                tracing::warn!(upstream = %self.upstream, timeout = ?self.timeout, "upstream timeout");
                self.failure(StatusCode::GATEWAY_TIMEOUT, "timeout")
            }
        }
    }

    fn failure(&self, status: StatusCode, kind: &'static str) -> Response<ProxyBody> {
        let mut res = if kind == "timeout" {
            self.error(
                status,
                "upstream_timeout",
                "The upstream service did not answer in time",
            )
        } else {
            self.error(status, "bad_gateway", "The upstream service is unreachable")
        };
        res.extensions_mut().insert(UpstreamFailure(kind));
        res
    }

    fn error(
        &self,
        status: StatusCode,
        code: &'static str,
        description: &'static str,
    ) -> Response<ProxyBody> {
        error_response(self.style, status, code, description).map(Either::Right)
    }

    /// Removes the client's headers that could pass for the ones the gateway
    /// sets: equal to one after ASCII case folding and `_` → `-`, and, unless
    /// the operator allows them, every name with `_` (nginx's
    /// `underscores_in_headers off`).
    fn remove_vouched(&self, headers: &mut HeaderMap) {
        let vouched = |name: &str| {
            let folded = name.replace('_', "-");
            folded == X_AUTH_SUBJECT.as_str()
                || folded == X_AUTH_SCOPES.as_str()
                || folded == X_AUTH_ISSUER.as_str()
                || FORWARDING.iter().any(|f| folded == f.as_str())
                || self.claim_headers.iter().any(|(_, h)| folded == h.as_str())
        };
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                let name = name.as_str();
                (name.contains('_') && !self.allow_underscores) || vouched(name)
            })
            .filter(|name| {
                // `FORWARDING` names are handled by trust, not here.
                !FORWARDING.contains(name)
            })
            .cloned()
            .collect();
        for name in doomed {
            headers.remove(name);
        }
    }

    /// The configured claims of the (already validated) bearer token, as headers.
    fn mapped_claims(&self, headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        let Some(payload) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().get(6..).map(str::trim_start))
            .and_then(|token| token.split('.').nth(1))
        else {
            return Vec::new();
        };
        let Ok(json) = URL_SAFE_NO_PAD.decode(payload) else {
            return Vec::new();
        };
        let Ok(claims) =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json)
        else {
            return Vec::new();
        };
        self.claim_headers
            .iter()
            .filter_map(|(claim, name)| {
                let text = claim_text(claims.get(claim)?)?;
                Some((name.clone(), HeaderValue::from_str(&text).ok()?))
            })
            .collect()
    }
}

/// The granted scopes, space-separated, in one allocation.
fn scopes_header(claims: &Claims) -> HeaderValue {
    let mut scopes = claims.scopes();
    let Some(first) = scopes.next() else {
        return HeaderValue::from_static("");
    };
    let mut text = String::with_capacity(claims.scope().map_or(first.len(), str::len));
    text.push_str(first);
    for s in scopes {
        text.push(' ');
        text.push_str(s);
    }
    // Scope tokens are printable ASCII (RFC 6749 §3.3); a token that breaks
    // that rule gets an empty header rather than a malformed one.
    HeaderValue::from_maybe_shared(Bytes::from(text))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A claim as header text: strings, numbers and booleans, and arrays of them
/// (comma-separated). Objects and `null` are not sent.
fn claim_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Array(_) => None,
                v => claim_text(v),
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        Value::Object(_) | Value::Null => None,
    }
}

/// Appends the peer to a trusted proxy's `X-Forwarded-For` list.
fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue) {
    let list: Vec<&[u8]> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let mut joined = Vec::new();
    for item in list {
        joined.extend_from_slice(item);
        joined.extend_from_slice(b", ");
    }
    joined.extend_from_slice(peer.as_bytes());
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(&X_FORWARDED_FOR, value);
    }
}

/// Removes the fields named in `Connection`, then the hop-by-hop fields
/// (RFC 9110 §7.6.1).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn timed_out(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        out.push_str(": ");
        out.push_str(&err.to_string());
        cur = err.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_list_is_removed_first() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, X-Secret , keep-alive"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn claim_values_as_text() {
        use serde_json::json;
        assert_eq!(claim_text(&json!("a")).as_deref(), Some("a"));
        assert_eq!(claim_text(&json!(3)).as_deref(), Some("3"));
        assert_eq!(
            claim_text(&json!(["a", 1, true])).as_deref(),
            Some("a,1,true")
        );
        assert_eq!(claim_text(&json!({"a": 1})), None);
        assert_eq!(claim_text(&json!(null)), None);
    }
}
