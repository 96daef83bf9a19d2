//! The HTTP client: any tower `Service`, type-erased, with a timeout and a size
//! cap on every fetch; by default hyper-util's client with rustls.

use std::fmt;
use std::future::{poll_fn, Future};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, ACCEPT, USER_AGENT};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Limited};
use tower_service::Service;

use super::error::{JwksError, JwksErrorKind};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type CallFuture = Pin<Box<dyn Future<Output = Result<Fetched, JwksError>> + Send>>;

/// A response whose body was read (only for a 2xx status).
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A type-erased client.
#[derive(Clone)]
pub(crate) struct HttpClient {
    call: Arc<dyn Fn(Request<Empty<Bytes>>, usize) -> CallFuture + Send + Sync>,
    name: &'static str,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl HttpClient {
    pub(crate) fn new<S, B>(service: S) -> Self
    where
        S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let call = move |req: Request<Empty<Bytes>>, limit: usize| -> CallFuture {
            let mut service = service.clone();
            Box::pin(async move {
                let transport = |e: BoxError| {
                    JwksError::new(JwksErrorKind::Transport, "the request failed").with_source(e)
                };
                poll_fn(|cx| service.poll_ready(cx))
                    .await
                    .map_err(|e| transport(e.into()))?;
                let response = service.call(req).await.map_err(|e| transport(e.into()))?;
                let (parts, body) = response.into_parts();
                if !parts.status.is_success() {
                    // The body of an error is never read.
                    return Ok(Fetched {
                        status: parts.status,
                        headers: parts.headers,
                        body: Bytes::new(),
                    });
                }
                if body.size_hint().lower() > limit as u64 {
                    return Err(too_large(limit));
                }
                let body = Limited::new(body, limit)
                    .collect()
                    .await
                    .map_err(|e| {
                        if e.is::<http_body_util::LengthLimitError>() {
                            too_large(limit)
                        } else {
                            JwksError::new(JwksErrorKind::Transport, "reading the body failed")
                                .with_source(e)
                        }
                    })?
                    .to_bytes();
                Ok(Fetched {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                })
            })
        };
        Self {
            call: Arc::new(call),
            name: std::any::type_name::<S>(),
        }
    }

    /// The default client: hyper-util's pooled HTTP/1 client, HTTPS by rustls
    /// (aws-lc-rs) with the platform's root certificates.
    pub(crate) fn default_client(connect_timeout: Duration) -> Result<Self, JwksError> {
        use hyper_util::client::legacy::connect::HttpConnector;
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
        #[cfg(feature = "tracing")]
        if roots.is_empty() {
            tracing::warn!("no root certificates found: HTTPS key fetches will fail");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| JwksError::config("cannot set up TLS").with_source(e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let mut this = Self::new(client);
        this.name = "hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>>";
        Ok(this)
    }

    /// GETs `uri` within `timeout`, reading at most `limit` bytes of a 2xx body.
    /// A status other than 200 is an error.
    pub(crate) async fn get(
        &self,
        uri: &Uri,
        timeout: Duration,
        limit: usize,
    ) -> Result<Fetched, JwksError> {
        let mut req = Request::new(Empty::new());
        *req.uri_mut() = uri.clone();
        let headers = req.headers_mut();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/jwk-set+json, application/json"),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("tower-jwt-auth/", env!("CARGO_PKG_VERSION"))),
        );
        let fetched = tokio::time::timeout(timeout, (self.call)(req, limit))
            .await
            .map_err(|_| {
                JwksError::new(
                    JwksErrorKind::Timeout,
                    format!("no complete answer within {} ms", timeout.as_millis()),
                )
                .at(uri)
            })?
            .map_err(|e| e.at(uri))?;
        if fetched.status != StatusCode::OK {
            return Err(JwksError::status_error(fetched.status).at(uri));
        }
        Ok(fetched)
    }
}

fn too_large(limit: usize) -> JwksError {
    JwksError::new(
        JwksErrorKind::TooLarge,
        format!("the body is over {limit} bytes"),
    )
}

/// Checks a URL that keys are fetched from: absolute, `https` (or `http` on a
/// loopback host, or anywhere when `allow_http`), no user info.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<Uri, JwksError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| JwksError::config(format!("{url:?} is not a valid URL")))?;
    let Some(authority) = uri.authority() else {
        return Err(JwksError::config(format!("{url:?} is not an absolute URL")));
    };
    if authority.as_str().contains('@') {
        return Err(JwksError::config("a key URL must not carry user info"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_http || is_loopback(authority.host()) => Ok(uri),
        Some("http") => Err(JwksError::config(format!(
            "{url:?} is plain http: keys must come over https (or allow http explicitly)"
        ))),
        _ => Err(JwksError::config(format!(
            "{url:?} is neither https nor http"
        ))),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The freshness lifetime a response grants: `max-age` (`no-cache` and
/// `no-store` count as zero).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                if let Ok(secs) = arg.trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://idp.example/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://idp.example/jwks", false).is_err());
        assert!(check_url("http://idp.example/jwks", true).is_ok());
        assert!(check_url("https://user:pw@idp.example/jwks", false).is_err());
        assert!(check_url("/jwks", false).is_err());
        assert!(check_url("ftp://idp.example/jwks", false).is_err());
    }

    #[test]
    fn cache_control() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert("cache-control", "public, max-age=3600".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(3600)));
        h.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::ZERO));
        h.insert("cache-control", "max-age=abc".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }
}
