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
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::bearer::AnyUser;
use tower_jwt_auth::jwk::JwkSet;
use tower_jwt_auth::rotation::JwksEndpoint;
use tower_jwt_auth::{Auth, AuthError, AuthLayer, Claims, DefaultRejection, Style};

use super::config::{self, Config, SettingError};
use super::keys::Keys;
use super::metrics::Metrics;
use super::paths;
use super::proxy::{ClientAddr, Proxy, ProxyBody, UpstreamFailure};
use super::tutorial;
use super::users::{
    self, BoxError, DirectoryResolver, GatewayBody, Identity, Profile, TokenService,
};

/// Set in the response extensions of a request that passed authentication.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    /// The user the token's `sub` names.
    pub(crate) user: Arc<Profile>,
}

/// What answers a request once it is allowed: the upstream, or the tutorial
/// routes when there is no upstream.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    proxy: Option<Arc<Proxy>>,
    metrics: Metrics,
}

impl Service<Request<Incoming>> for Backend {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
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
}

/// The whole gateway as one cheaply cloned handle.
#[derive(Clone)]
pub(crate) struct Gateway {
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
    pub(crate) fn new(config: &Config) -> Result<Self, SettingError> {
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
    pub(crate) async fn load(config: &Config) -> Result<Self, SettingError> {
        let keys = Keys::load(config).await?;
        let identity = users::load(config, keys.signer.clone())?;
        Self::with_identity(config, identity, keys)
    }

    /// Builds the gateway for `config` with the given users side and keys.
    pub(crate) fn with_identity(
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

        let metrics = Metrics::new();
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
            }),
        })
    }

    /// Whether `POST /token` is served.
    pub(crate) fn issues_tokens(&self) -> bool {
        self.shared.token.is_some()
    }

    /// Whether the built-in demo users are in use.
    pub(crate) fn uses_demo_users(&self) -> bool {
        self.shared.demo
    }

    /// Answers one request, counts it and logs one line for it.
    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<GatewayBody> {
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

    async fn route(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let shared = &*self.shared;
        match req.uri().path() {
            "/healthz" => return simple(req.method(), "text/plain; charset=utf-8", "ok\n".into()),
            "/metrics" => {
                let text = shared.metrics.render();
                return simple(
                    req.method(),
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text.into(),
                );
            }
            "/.well-known/jwks.json" => {
                return match shared.jwks.clone().oneshot(req).await {
                    Ok(res) => boxed(res),
                    Err(never) => match never {},
                };
            }
            "/token" => {
                if let Some(token) = &shared.token {
                    return match token.clone().oneshot(req).await {
                        Ok(res) => res,
                        Err(never) => match never {},
                    };
                }
            }
            _ => {}
        }
        let path = match paths::normalize(req.uri().path()) {
            Ok(p) => p,
            Err(e) => {
                return boxed(error_response(
                    shared.style,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    e.description(),
                ));
            }
        };
        let access = shared
            .rules
            .iter()
            .find(|(prefix, _)| paths::covers(prefix, &path))
            .map_or(&shared.fallback, |(_, access)| access);
        drop(path);
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
pub(crate) fn error_response(
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
pub(crate) fn boxed<B>(res: Response<B>) -> Response<GatewayBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    res.map(|b| b.map_err(Into::into).boxed_unsync())
}

/// Serves `gateway` on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish for up to `grace`, and returns.
///
/// # Errors
///
/// Never today: accept errors are logged and the loop goes on.
pub(crate) async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
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
