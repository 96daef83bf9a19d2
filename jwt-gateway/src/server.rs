//! The gateway service (routing, authentication, metrics, logs) and the
//! accept loop with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::bearer::AnyUser;
use tower_jwt_auth::jwk::JwkSet;
use tower_jwt_auth::rotation::JwksEndpoint;
use tower_jwt_auth::{Auth, AuthError, AuthLayer, Claims, DefaultRejection, Style};

use super::body::ClientBody;
use super::config::{self, Config, SettingError};
use super::keys::Keys;
use super::metrics::Metrics;
use super::paths;
use super::proxy::{ClientAddr, ClientFault, Proxy, ProxyBody, UpstreamFailure};
use super::tutorial;
use super::users::{
    self, BoxError, DirectoryResolver, GatewayBody, Identity, Profile, TokenService,
};

/// Set in the response extensions of a request that passed authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user the token's `sub` names.
    pub user: Arc<Profile>,
}

/// What answers a request once it is allowed: the upstream, or the tutorial
/// routes when there is no upstream.
#[derive(Debug, Clone)]
pub struct Backend {
    proxy: Option<Arc<Proxy>>,
    metrics: Metrics,
}

impl Service<Request<ClientBody>> for Backend {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<ClientBody>) -> Self::Future {
        let proxy = self.proxy.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let claims = req.extensions_mut().remove::<Claims>();
            let user = req.extensions().get::<Arc<Profile>>().cloned();
            if user.is_some() {
                metrics.allowed();
            }
            let mut res = match &proxy {
                Some(proxy) => {
                    let identity = claims.as_ref().zip(user.as_deref());
                    proxy.forward(req, identity).await
                }
                None => tutorial::handle(&req).map(Either::Right),
            };
            // For the request's log line only.
            if let Some(user) = user.filter(|_| tracing::enabled!(tracing::Level::INFO)) {
                res.extensions_mut().insert(Authenticated { user });
            }
            Ok(res)
        })
    }
}

type Protected = Auth<Backend, Claims, DirectoryResolver, DefaultRejection, AnyUser>;

#[derive(Debug)]
enum Access {
    Public,
    Protected(Protected),
}

struct Shared {
    /// Prefix rules, longest prefix first.
    rules: Vec<(String, Access)>,
    fallback: Access,
    backend: Backend,
    token: Option<TokenService>,
    /// `GET /.well-known/jwks.json`.
    jwks: JwksEndpoint<Full<Bytes>>,
    demo: bool,
    metrics: Metrics,
    style: Style,
    path_policy: paths::PathPolicy,
    max_body: u64,
    body_timeout: Duration,
    max_connections: usize,
}

/// The whole gateway as one cheaply cloned handle.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("rules", &self.shared.rules.len())
            .field("token", &self.shared.token.is_some())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway for `config`, loading the users it names.
    ///
    /// # Errors
    ///
    /// A [`SettingError`] for a setting that the core crate refuses, or a users
    /// file that cannot be loaded.
    #[allow(dead_code)] // main uses `load`; the tests use this.
    pub fn new(config: &Config) -> Result<Self, SettingError> {
        let keys = Keys::local(config)?;
        let identity = users::load(config, keys.signer.clone())?;
        Self::with_identity(config, identity, keys)
    }

    /// As [`Gateway::new`], fetching the keys of external issuers first
    /// (`--jwks-url`, `--issuer-url`). Runs within a tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`Gateway::new`], and when the external keys cannot be loaded.
    pub async fn load(config: &Config) -> Result<Self, SettingError> {
        let keys = Keys::load(config).await?;
        let identity = users::load(config, keys.signer.clone())?;
        Self::with_identity(config, identity, keys)
    }

    /// Builds the gateway for `config` with the given users side and keys.
    pub fn with_identity(
        config: &Config,
        identity: Identity,
        keys: Keys,
    ) -> Result<Self, SettingError> {
        let core = |setting: config::Setting, e: tower_jwt_auth::ConfigError| {
            SettingError::new(setting, config.source(setting), e.to_string(), "see --help")
        };
        let mut validator = keys.validator;
        // With external issuers the key source checks `iss` (each issuer has
        // its keys; any other is refused).
        if let Some(iss) = config.issuer.as_ref().filter(|_| !keys.by_issuer) {
            validator = validator.issuer([iss.as_str()]);
        }
        if let Some(aud) = &config.audience {
            validator = validator.audience([aud.as_str()]);
        }
        let base = AuthLayer::new(validator)
            .style(config.style)
            .realm(&config.realm)
            .map_err(|e| core(config::REALM, e))?
            .resolve_user(DirectoryResolver(identity.directory));

        let metrics = Metrics::with_key_sources(keys.sources.clone());
        let backend = Backend {
            proxy: config
                .upstream
                .clone()
                .map(|u| Arc::new(Proxy::new(u, config))),
            metrics: metrics.clone(),
        };
        let mut rules: Vec<(String, Access)> = config
            .public
            .iter()
            .map(|p| (p.clone(), Access::Public))
            .collect();
        for (prefix, scopes) in &config.require_scope {
            let layer = base
                .clone()
                .require_scopes(scopes.iter().cloned())
                .map_err(|e| core(config::REQUIRE_SCOPE, e))?;
            rules.push((
                prefix.clone(),
                Access::Protected(layer.layer(backend.clone())),
            ));
        }
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
        Ok(Self {
            shared: Arc::new(Shared {
                rules,
                fallback: Access::Protected(base.layer(backend.clone())),
                backend,
                token: identity.token,
                jwks: match keys.published {
                    Some(rotation) => JwksEndpoint::new(rotation),
                    None => JwksEndpoint::fixed(&JwkSet::new()),
                },
                demo: identity.demo,
                metrics,
                style: config.style,
                path_policy: paths::PathPolicy {
                    allow_empty_segments: config.merge_slashes,
                },
                max_body: config.max_body,
                body_timeout: config.body_timeout,
                max_connections: config.max_connections,
            }),
        })
    }

    /// Whether `POST /token` is served.
    pub fn issues_tokens(&self) -> bool {
        self.shared.token.is_some()
    }

    /// Whether the built-in demo users are in use.
    pub fn uses_demo_users(&self) -> bool {
        self.shared.demo
    }

    /// Answers one request, counts it and logs one line for it.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let start = Instant::now();
        let log = tracing::enabled!(tracing::Level::INFO);
        let request_line = log.then(|| (req.method().clone(), req.uri().path().to_owned()));
        let res = self.route(req).await;
        let latency = start.elapsed();
        let metrics = &self.shared.metrics;
        metrics.observe(latency);
        let ext = res.extensions();
        if let Some(e) = ext.get::<AuthError>() {
            metrics.denied(e.kind().as_str());
        }
        if let Some(UpstreamFailure(kind)) = ext.get::<UpstreamFailure>() {
            metrics.upstream_error(kind);
        }
        if let Some(ClientFault(kind)) = ext.get::<ClientFault>() {
            metrics.client_error(kind);
        }
        if let Some((method, path)) = request_line {
            let subject = ext.get::<Authenticated>().map(|a| a.user.clone());
            // The path only: a query may carry secrets. Never a header.
            tracing::info!(
                %method,
                path,
                status = res.status().as_u16(),
                latency = ?latency,
                subject = subject.as_ref().map_or("-", |u| u.user.username.as_str()),
                "request"
            );
        }
        res
    }

    /// The admin listener's routes: `/metrics`, `/healthz` and `/readyz`.
    pub fn admin(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        match req.uri().path() {
            "/metrics" => simple(
                req.method(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.shared.metrics.render().into(),
            ),
            // Ready once built: the users and keys are loaded by then.
            "/healthz" | "/readyz" => {
                simple(req.method(), "text/plain; charset=utf-8", "ok\n".into())
            }
            _ => {
                let mut res = Response::new(Full::new(Bytes::from_static(b"not found\n")));
                *res.status_mut() = StatusCode::NOT_FOUND;
                boxed(res)
            }
        }
    }

    async fn route(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let shared = &*self.shared;
        let (mut parts, body) = req.into_parts();
        if let Err(problem) = check_host(&mut parts) {
            shared.metrics.client_error("bad_host");
            return bad_request(shared.style, problem);
        }
        // One path for everything below: the rules see what the upstream
        // gets (see `paths`).
        let path = match paths::normalize(parts.uri.path(), shared.path_policy) {
            Ok(p) => p,
            Err(e) => {
                shared.metrics.client_error("bad_path");
                return bad_request(shared.style, e.description());
            }
        };
        if path != parts.uri.path() {
            match with_path(&parts.uri, &path) {
                Some(uri) => parts.uri = uri,
                None => {
                    shared.metrics.client_error("bad_path");
                    return bad_request(shared.style, "The request target cannot be forwarded");
                }
            }
        }
        match path.as_str() {
            "/healthz" => return simple(&parts.method, "text/plain; charset=utf-8", "ok\n".into()),
            "/.well-known/jwks.json" => {
                let req = Request::from_parts(parts, Full::<Bytes>::default());
                return match shared.jwks.clone().oneshot(req).await {
                    Ok(res) => boxed(res),
                    Err(never) => match never {},
                };
            }
            "/token" => {
                if let Some(token) = &shared.token {
                    // The form is small: read it whole, within its own
                    // deadline, before the endpoint sees it.
                    let body = ClientBody::new(body, TOKEN_BODY_LIMIT, TOKEN_BODY_TIMEOUT);
                    let body = match body.collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(fault) => {
                            shared.metrics.client_error(fault.kind());
                            let (status, code, description) = fault.answer();
                            return boxed(error_response(shared.style, status, code, description));
                        }
                    };
                    let req = Request::from_parts(parts, Full::new(body));
                    return match token.clone().oneshot(req).await {
                        Ok(res) => res,
                        Err(never) => match never {},
                    };
                }
            }
            _ => {}
        }
        let access = shared
            .rules
            .iter()
            .find(|(prefix, _)| paths::covers(prefix, &path))
            .map_or(&shared.fallback, |(_, access)| access);
        drop(path);
        let req = Request::from_parts(
            parts,
            ClientBody::new(body, shared.max_body, shared.body_timeout),
        );
        let res = match access {
            Access::Public => {
                shared.metrics.public();
                shared.backend.clone().oneshot(req).await.map(boxed)
            }
            Access::Protected(service) => service.clone().oneshot(req).await.map(boxed),
        };
        match res {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

/// Largest `/token` form read (the endpoint has its own, smaller, cap).
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;
/// Time a client has to send its whole `/token` form.
const TOKEN_BODY_TIMEOUT: Duration = Duration::from_secs(10);

fn bad_request(style: Style, description: &'static str) -> Response<GatewayBody> {
    boxed(error_response(
        style,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description,
    ))
}

/// `uri` with its path replaced by `path` (already a valid, encoded path).
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let mut target = String::with_capacity(path.len() + uri.query().map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut uri_parts = uri.clone().into_parts();
    uri_parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(uri_parts).ok()
}

/// RFC 9112 §3.2: one valid `Host` (none is allowed before HTTP/1.1); with an
/// absolute-form target, its authority wins and replaces `Host` (§3.2.2).
fn check_host(parts: &mut http::request::Parts) -> Result<(), &'static str> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err("The request has more than one Host header");
    }
    if let Some(authority) = parts.uri.authority() {
        if !valid_authority(authority.as_str()) {
            return Err("The request target's authority is invalid");
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| "The request target's authority is invalid")?;
        parts.headers.insert(HOST, host);
        return Ok(());
    }
    match first {
        Some(host) => {
            let host = host.to_str().map_err(|_| "The Host header is invalid")?;
            if valid_authority(host) {
                Ok(())
            } else {
                Err("The Host header is invalid")
            }
        }
        None if parts.version >= Version::HTTP_11 => Err("The request has no Host header"),
        None => Ok(()),
    }
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name, an IPv4 address or a
/// bracketed IPv6 address, and a decimal port below 65536; no userinfo.
fn valid_authority(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => ("v6", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                )
        });
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

/// `GET`/`HEAD` answered with `body`; other methods get 405.
fn simple(method: &Method, content_type: &'static str, body: Bytes) -> Response<GatewayBody> {
    let mut res = if method == Method::GET || method == Method::HEAD {
        let mut res = Response::new(Full::new(body));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    } else {
        let mut res = Response::new(Full::default());
        *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        res
    };
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    boxed(res)
}

/// A short JSON error in the configured style: `{"error", "error_description"}`
/// (standards) or `{"detail"}` (FastAPI).
pub fn error_response(
    style: Style,
    status: StatusCode,
    code: &'static str,
    description: &'static str,
) -> Response<Full<Bytes>> {
    let body = match style {
        Style::FastApi => serde_json::json!({ "detail": description }),
        _ => serde_json::json!({ "error": code, "error_description": description }),
    };
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Boxes a response body into the gateway's body type.
pub fn boxed<B>(res: Response<B>) -> Response<GatewayBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    res.map(|b| b.map_err(Into::into).boxed_unsync())
}

/// Serves `gateway` on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish for up to `grace`, and returns.
///
/// At most the configured `max_connections` are served at once; a connection
/// over that is answered `503` with `Retry-After` and closed.
///
/// # Errors
///
/// Never today: accept errors are logged and the loop goes on.
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let permits = Arc::new(Semaphore::new(gateway.shared.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off a little.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    gateway.shared.metrics.client_error("too_many_connections");
                    tokio::spawn(refuse(stream));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let gateway = gateway.clone();
                let service = service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.handle(req).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: no longer accepting; finishing in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace = ?grace, "shutdown deadline reached; dropping the remaining connections");
        }
    }
    Ok(())
}

/// Answers a connection over the limit without reading its request.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
retry-after: 1\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 29\r\n\
connection: close\r\n\
\r\n\
Too many connections; retry.\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Serves the admin routes ([`Gateway::admin`]) on `listener` until
/// `shutdown` completes.
///
/// # Errors
///
/// Never today: accept errors are logged and the loop goes on.
pub async fn serve_admin(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    // Scrapers and probes: a handful at once is plenty.
    let permits = Arc::new(Semaphore::new(64));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tokio::spawn(refuse(stream));
                    continue;
                };
                let gateway = gateway.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let res = gateway.admin(&req);
                    async move { Ok::<_, Infallible>(res) }
                });
                let conn = http.serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    Ok(())
}
