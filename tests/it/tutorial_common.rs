//! A real server on 127.0.0.1:0 and a real HTTP client, for the tutorial tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub(crate) type ServeResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A running example server.
pub(crate) struct Server {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// An answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The `WWW-Authenticate` header, if any.
    pub(crate) fn challenge(&self) -> Option<&str> {
        self.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Asserts status, body and challenge at once.
    #[track_caller]
    pub(crate) fn assert(&self, status: u16, body: &str, challenge: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body, body, "{self:?}");
        assert_eq!(self.challenge(), challenge, "{self:?}");
        if !body.is_empty() {
            assert_eq!(self.headers["content-type"], "application/json");
        }
    }
}

impl Server {
    /// Binds 127.0.0.1:0, then spawns `serve` on the bound listener.
    pub(crate) async fn start<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = ServeResult> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = oneshot::channel();
        let fut = serve(listener, rx);
        let task = tokio::spawn(async move { fut.await.unwrap() });
        Self {
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: Some(stop),
            task,
        }
    }

    /// Sends a request.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let res = self.client.request(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    /// `POST /token` with a form.
    pub(crate) async fn login(&self, form: &str) -> Answer {
        self.send(
            Method::POST,
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await
    }

    /// `POST /token` that must succeed; the access token.
    pub(crate) async fn token(&self, form: &str) -> String {
        let a = self.login(form).await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        let v = a.json();
        assert_eq!(v["token_type"], "bearer");
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET path`, with `token` as a bearer token when given.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        match token {
            Some(t) => {
                let auth = format!("Bearer {t}");
                self.send(Method::GET, path, &[("authorization", &auth)], "")
                    .await
            }
            None => self.send(Method::GET, path, &[], "").await,
        }
    }

    /// Stops the server and waits for it.
    pub(crate) async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

/// The JOSE header and the claims of a token, unverified.
pub(crate) fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut part = || {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&b).unwrap()
    };
    (part(), part())
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The bodies both tutorial apps answer, byte for byte.
pub(crate) const JOHNDOE: &str = r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#;
pub(crate) const NOT_AUTHENTICATED: &str = r#"{"detail":"Not authenticated"}"#;
pub(crate) const COULD_NOT_VALIDATE: &str = r#"{"detail":"Could not validate credentials"}"#;
pub(crate) const INACTIVE: &str = r#"{"detail":"Inactive user"}"#;
pub(crate) const INCORRECT: &str = r#"{"detail":"Incorrect username or password"}"#;
