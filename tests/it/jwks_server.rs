//! A JWKS and discovery server for tests, on 127.0.0.1:0, with hit counters and
//! switches for failures (status, malformed body, hang) and a gate that holds
//! JWKS answers until the test opens it.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tower_jwt_auth::rotation::KeyRotation;

/// How `/jwks.json` answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// The rotation's public keys.
    Keys,
    /// This status, empty body.
    Status(u16),
    /// 200 with this body.
    Body(String),
    /// Never answers.
    Hang,
}

pub struct State {
    pub rotation: KeyRotation,
    pub mode: Mutex<Mode>,
    pub cache_control: Mutex<Option<String>>,
    pub hits: Mutex<HashMap<String, usize>>,
    /// Discovery: the issuer the document names; `None` for the server's base URL.
    pub issuer: Mutex<Option<String>>,
    /// Whether `/.well-known/openid-configuration` answers (else 404).
    pub oidc: Mutex<bool>,
    /// The issuer path under which `/.well-known/oauth-authorization-server` answers.
    pub oauth_path: Mutex<Option<String>>,
    gate: watch::Sender<bool>,
    base: String,
}

pub struct JwksServer {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    _shutdown: oneshot::Sender<()>,
}

impl JwksServer {
    pub async fn start(rotation: KeyRotation) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            rotation,
            mode: Mutex::new(Mode::Keys),
            cache_control: Mutex::new(None),
            hits: Mutex::new(HashMap::new()),
            issuer: Mutex::new(None),
            oidc: Mutex::new(true),
            oauth_path: Mutex::new(None),
            gate: watch::channel(true).0,
            base: format!("http://{addr}"),
        });
        let (tx, mut rx) = oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    _ = &mut rx => break,
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            state,
            _shutdown: tx,
        }
    }

    pub fn base(&self) -> String {
        self.state.base.clone()
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.state.base)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn jwks_hits(&self) -> usize {
        self.hits("/jwks.json")
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(Into::into);
    }

    /// Holds JWKS answers until [`open`](Self::open).
    pub fn close_gate(&self) {
        self.state.gate.send_replace(false);
    }

    pub fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let json = |body: String| {
        Response::builder()
            .header("content-type", "application/json")
            .body(Full::from(body))
            .unwrap()
    };
    let not_found = || {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::default())
            .unwrap()
    };
    let discovery = || {
        let issuer = state
            .issuer
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| state.base.clone());
        json(
            serde_json::json!({
                "issuer": issuer,
                "jwks_uri": format!("{}/jwks.json", state.base),
                "token_endpoint": format!("{}/token", state.base),
            })
            .to_string(),
        )
    };
    if path == "/jwks.json" {
        let mut gate = state.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        let mode = state.mode.lock().unwrap().clone();
        let mut res = match mode {
            Mode::Keys => json(String::from_utf8(state.rotation.jwks_json().to_vec()).unwrap()),
            Mode::Status(code) => Response::builder()
                .status(code)
                .body(Full::default())
                .unwrap(),
            Mode::Body(body) => json(body),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                not_found()
            }
        };
        if let Some(cc) = state.cache_control.lock().unwrap().clone() {
            res.headers_mut()
                .insert("cache-control", cc.parse().unwrap());
        }
        return Ok(res);
    }
    if path == "/.well-known/openid-configuration"
        || path.ends_with("/.well-known/openid-configuration")
    {
        let issuer_path = path.trim_end_matches("/.well-known/openid-configuration");
        let issuer = state.issuer.lock().unwrap().clone();
        let expected = issuer
            .as_deref()
            .and_then(|i| i.strip_prefix(&state.base))
            .unwrap_or("");
        if *state.oidc.lock().unwrap() && issuer_path == expected {
            return Ok(discovery());
        }
        return Ok(not_found());
    }
    if let Some(rest) = path.strip_prefix("/.well-known/oauth-authorization-server") {
        if state.oauth_path.lock().unwrap().as_deref() == Some(rest) {
            return Ok(discovery());
        }
    }
    Ok(not_found())
}

/// Waits until `f` holds, checking every 10 ms, for at most 30 s.
pub async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..3000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
