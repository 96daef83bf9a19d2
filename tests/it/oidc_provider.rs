//! Interop with a real OpenID Provider written by others: panva's
//! `oidc-provider` (npm), run with the machine's Node on loopback.
//!
//! The test gets JWT access tokens (RFC 9068) from the provider with the
//! client_credentials grant and a resource indicator (RFC 8707), and validates
//! them through `AuthLayer` with keys found by OpenID Connect discovery.
//!
//! It installs the provider with `npm ci` in `tests/oidc/` when
//! `node_modules` is missing. Without `node`, it fails when `CI` is set and is
//! skipped (with a message) otherwise.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::jwks::RemoteKeys;
use tower_jwt_auth::{Algorithm, AuthError, AuthLayer, Claims, JwtValidator, TypPolicy};

const CLIENT_ID: &str = "tower-jwt-auth-test";
const CLIENT_SECRET: &str = "a-client-secret-for-loopback-tests-only";

/// The provider's process, ended when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether `program --version` runs.
fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the provider, or returns `None` (skip) when Node is missing outside CI.
async fn start_provider() -> Option<Provider> {
    if !available("node") || !available("npm") {
        if std::env::var_os("CI").is_some() {
            panic!("node and npm are required for the oidc-provider interop test in CI");
        }
        eprintln!("SKIPPED oidc_provider interop: node or npm is not installed");
        return None;
    }
    let dir = oidc_dir();
    if !dir.join("node_modules/oidc-provider").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("run npm ci");
        assert!(
            out.status.success(),
            "npm ci failed in tests/oidc:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut provider = Provider {
        child,
        issuer: String::new(),
    };
    // The first line says where it listens; bounded so that a broken install fails.
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await;
    let line = match line {
        Ok(Ok(Ok(line))) if !line.is_empty() => line,
        other => {
            let _ = provider.child.kill();
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            panic!("oidc-provider did not start ({other:?}):\n{err}");
        }
    };
    // Drain stderr (Node's warnings) so the provider never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let started: serde_json::Value = serde_json::from_str(&line).expect("issuer line");
    provider.issuer = started["issuer"].as_str().expect("issuer").to_owned();
    Some(provider)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn json(client: &HttpClient, req: Request<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
    let res = client.request(req).await.expect("request");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// A JWT access token for `resource` from the token endpoint.
async fn access_token(client: &HttpClient, token_endpoint: &str, resource: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let form = format!("grant_type=client_credentials&scope=read&resource={resource}");
    let req = Request::post(token_endpoint)
        .header("authorization", format!("Basic {credentials}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::from(form))
        .unwrap();
    let (status, body) = json(client, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

async fn call(validator: &JwtValidator, token: &str) -> (StatusCode, Option<Claims>) {
    let svc = AuthLayer::new(validator.clone()).layer(service_fn(|req: Request<()>| async move {
        let mut res = Response::new(String::new());
        if let Some(claims) = req.extensions().get::<Claims>() {
            res.extensions_mut().insert(claims.clone());
        }
        Ok::<_, Infallible>(res)
    }));
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    if let Some(e) = res.extensions().get::<AuthError>() {
        eprintln!("refused: {e}");
    }
    (res.status(), res.extensions().get::<Claims>().cloned())
}

fn header(token: &str) -> serde_json::Value {
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_access_tokens_validate_through_discovery() {
    let Some(provider) = start_provider().await else {
        return;
    };
    let issuer = provider.issuer.clone();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // The provider's own discovery document names its token endpoint.
    let req = Request::get(format!("{issuer}/.well-known/openid-configuration"))
        .body(Full::default())
        .unwrap();
    let (status, metadata) = json(&client, req).await;
    assert_eq!(status, StatusCode::OK);
    let token_endpoint = metadata["token_endpoint"].as_str().unwrap().to_owned();

    let keys = RemoteKeys::builder().issuer(&issuer).build().await.unwrap();
    let stats = keys.stats();
    assert_eq!(stats.fetch_success, 1);

    for alg in ["RS256", "ES256", "ES384", "EdDSA"] {
        let resource = format!("urn:tower-jwt-auth:{alg}");
        let token = access_token(&client, &token_endpoint, &resource).await;
        let head = header(&token);
        assert_eq!(head["alg"], alg);
        assert_eq!(head["typ"], "at+jwt");

        let validator = keys
            .validator()
            .unwrap()
            .audience([resource.as_str()])
            .typ(TypPolicy::AccessToken);
        let (status, claims) = call(&validator, &token).await;
        assert_eq!(status, StatusCode::OK, "{alg}");
        let claims = claims.expect("claims");
        assert_eq!(claims.sub(), Some(CLIENT_ID));
        assert_eq!(claims.iss(), Some(issuer.as_str()));
        assert!(claims.has_scope("read"));

        // Another audience, a tampered payload: refused.
        let other = keys.validator().unwrap().audience(["urn:other"]);
        assert_eq!(call(&other, &token).await.0, StatusCode::UNAUTHORIZED);
        let mut parts: Vec<&str> = token.split('.').collect();
        let tampered_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({
                "sub": "admin", "iss": issuer, "aud": resource, "exp": 4_000_000_000u64,
                "scope": "read write"
            }))
            .unwrap(),
        );
        parts[1] = &tampered_payload;
        assert_eq!(
            call(&validator, &parts.join(".")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(keys.stats().refetch_unknown_kid, 0, "every kid was known");

    // oidc-provider publishes RSA keys without `alg`: PS256 tokens need the
    // RSA default set to PS256 (each key verifies one algorithm).
    let resource = "urn:tower-jwt-auth:PS256";
    let token = access_token(&client, &token_endpoint, resource).await;
    assert_eq!(header(&token)["alg"], "PS256");
    let rs256 = keys.validator().unwrap().audience([resource]);
    assert_eq!(call(&rs256, &token).await.0, StatusCode::UNAUTHORIZED);
    let ps_keys = RemoteKeys::builder()
        .issuer(&issuer)
        .default_rsa_algorithm(Algorithm::PS256)
        .build()
        .await
        .unwrap();
    let ps256 = ps_keys.validator().unwrap().audience([resource]);
    assert_eq!(call(&ps256, &token).await.0, StatusCode::OK);
    drop(provider);
}
