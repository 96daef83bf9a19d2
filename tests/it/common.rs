//! Helpers shared by the integration tests: crafting tokens (well-formed or not),
//! building requests, running a layer in process and asserting on its answer.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_lc_rs::{hmac, rand::SystemRandom, signature};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Extensions, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::bearer::ResponseBody;
use tower_jwt_auth::{Algorithm, AuthError, AuthErrorKind, AuthLayer, JwtValidator};

/// The FastAPI tutorial's `SECRET_KEY`.
pub const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
/// Another secret, long enough for HS256: "the wrong key".
pub const OTHER_SECRET: &str = "an entirely different secret of 48 bytes......!!";
/// The fixed "now" of the validators built by [`validator`].
pub const NOW: u64 = 1_700_000_000;
/// An expiry 30 minutes after [`NOW`].
pub const EXP: u64 = NOW + 1800;
/// The realm of the default challenge.
pub const REALM: &str = "api";

// ---------------------------------------------------------------------------
// Key files and base64url.

/// The bytes of a file of `tests/data/` (test-only keys).
pub fn key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The DER inside a PEM file (the base64 between the armour lines).
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is ASCII");
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM base64")
}

/// Base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (strict).
pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// The three parts of a compact JWS.
pub fn parts(token: &str) -> (&str, &str, &str) {
    let mut it = token.split('.');
    let p = (
        it.next().expect("header"),
        it.next().expect("payload"),
        it.next().expect("signature"),
    );
    assert!(it.next().is_none(), "more than three parts");
    p
}

// ---------------------------------------------------------------------------
// Crafting tokens. Header and payload are raw JSON text, used byte for byte, so
// that malformed JSON (duplicate names, arrays, ...) can be signed too.

/// The HMAC of `input` with `secret`, base64url.
pub fn hmac_sig(alg: Algorithm, secret: &[u8], input: &str) -> String {
    let h = match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        other => panic!("not an HMAC algorithm: {other:?}"),
    };
    b64(hmac::sign(&hmac::Key::new(h, secret), input.as_bytes()))
}

/// `b64(header).b64(payload)`, signed with HMAC `alg` and `secret`.
pub fn hmac_token(alg: Algorithm, secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = hmac_sig(alg, secret, &input);
    format!("{input}.{sig}")
}

/// Signs an already encoded signing input (`header.payload` in base64url) with
/// HS256 and [`SECRET`].
pub fn hs256_input(input: &str) -> String {
    format!(
        "{input}.{}",
        hmac_sig(Algorithm::HS256, SECRET.as_bytes(), input)
    )
}

/// An HS256 token with `header` and `payload`, signed with [`SECRET`].
pub fn hs256_raw(header: &str, payload: &str) -> String {
    hmac_token(Algorithm::HS256, SECRET.as_bytes(), header, payload)
}

/// An HS256 token with the usual header (`{"alg":"HS256","typ":"JWT"}`) and
/// `payload`, signed with [`SECRET`].
pub fn hs256(payload: &str) -> String {
    hs256_raw(r#"{"alg":"HS256","typ":"JWT"}"#, payload)
}

/// `b64(header).b64(payload)`, signed with RS256 by the PKCS#8 PEM `private_pem`.
pub fn rs256_raw(private_pem: &[u8], header: &str, payload: &str) -> String {
    let key = signature::RsaKeyPair::from_pkcs8(&pem_to_der(private_pem)).expect("RSA key");
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("RSA sign");
    format!("{input}.{}", b64(sig))
}

/// The payload of a valid token for `johndoe` (expires at [`EXP`]).
pub fn valid_payload() -> String {
    format!(r#"{{"sub":"johndoe","exp":{EXP}}}"#)
}

/// A valid HS256 token for `johndoe`, as the FastAPI tutorial issues it.
pub fn valid_token() -> String {
    hs256(&valid_payload())
}

/// A payload for `johndoe` expiring at [`EXP`], with `extra` JSON members
/// (`"scope":"me"`) appended.
pub fn payload_with(extra: &str) -> String {
    format!(r#"{{"sub":"johndoe","exp":{EXP},{extra}}}"#)
}

// ---------------------------------------------------------------------------
// Validators and layers.

/// An HS256 validator for [`SECRET`] whose clock is fixed at [`NOW`].
pub fn validator() -> JwtValidator {
    JwtValidator::hs256(SECRET).expect("secret").clock(|| NOW)
}

/// A layer with [`validator`] and every other setting at its default.
pub fn layer() -> AuthLayer {
    AuthLayer::new(validator())
}

// ---------------------------------------------------------------------------
// Requests.

/// `GET /me` with no `Authorization`.
pub fn request() -> Request<Full<Bytes>> {
    Request::builder()
        .uri("/me")
        .body(Full::default())
        .expect("request")
}

/// `GET /me` with one `Authorization` field line per value, given as raw bytes.
pub fn with_authorization(values: &[&[u8]]) -> Request<Full<Bytes>> {
    let mut req = request();
    for v in values {
        let v = HeaderValue::from_bytes(v).expect("a value http accepts");
        req.headers_mut().append(AUTHORIZATION, v);
    }
    req
}

/// `GET /me` with `Authorization: Bearer <token>`.
pub fn with_bearer(token: &str) -> Request<Full<Bytes>> {
    with_authorization(&[format!("Bearer {token}").as_bytes()])
}

// ---------------------------------------------------------------------------
// The inner service and running a layer around it.

/// A header the inner service sets, so that a response shows it was reached.
pub const REACHED: &str = "x-inner-reached";

/// The inner service: answers 200 `ok` and keeps the request extensions it saw.
#[derive(Clone, Debug, Default)]
pub struct Echo {
    seen: Arc<Mutex<Option<Extensions>>>,
}

impl Service<Request<Full<Bytes>>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        *self.seen.lock().unwrap() = Some(req.extensions().clone());
        let mut res = Response::new(Full::from("ok"));
        res.headers_mut()
            .insert(REACHED, HeaderValue::from_static("yes"));
        ready(Ok(res))
    }
}

/// What came back from a layer, with what the inner service saw.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The [`AuthError`] of the response extensions.
    pub error: Option<AuthError>,
    /// The request extensions the inner service saw; `None` if it was not called.
    pub seen: Option<Extensions>,
}

impl Reply {
    /// The single `WWW-Authenticate` value, if any.
    pub fn challenge(&self) -> Option<&str> {
        let mut all = self.headers.get_all(WWW_AUTHENTICATE).iter();
        let first = all.next()?;
        assert!(all.next().is_none(), "several WWW-Authenticate fields");
        Some(first.to_str().expect("ASCII challenge"))
    }

    /// Whether the inner service was called.
    pub fn reached(&self) -> bool {
        self.seen.is_some()
    }

    /// The extension `T` the inner service saw.
    pub fn seen<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.seen.as_ref()?.get::<T>().cloned()
    }

    /// The kind of the [`AuthError`] of the response extensions.
    pub fn kind(&self) -> Option<AuthErrorKind> {
        self.error.as_ref().map(AuthError::kind)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// Runs `req` through `layer` around an [`Echo`].
pub async fn send<L>(layer: &L, req: Request<Full<Bytes>>) -> Reply
where
    L: Layer<Echo>,
    L::Service: Service<
        Request<Full<Bytes>>,
        Response = Response<ResponseBody<Full<Bytes>>>,
        Error = Infallible,
    >,
{
    let echo = Echo::default();
    let seen = echo.seen.clone();
    let svc = layer.layer(echo);
    let res = svc.oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let seen = seen.lock().unwrap().take();
    let reached = parts.headers.contains_key(REACHED);
    assert_eq!(reached, seen.is_some(), "REACHED header vs inner call");
    Reply {
        status: parts.status,
        headers: parts.headers.clone(),
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        error: parts.extensions.get::<AuthError>().cloned(),
        seen,
    }
}

/// Runs a request with `Authorization: Bearer <token>` through [`layer`].
pub async fn send_token(token: &str) -> Reply {
    send(&layer(), with_bearer(token)).await
}

// ---------------------------------------------------------------------------
// Assertions (standards style, realm `api`).

/// 200 from the inner service, no challenge, no error.
#[track_caller]
pub fn assert_ok(r: &Reply) {
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert!(r.reached(), "inner service not reached: {r:?}");
    assert_eq!(r.body, "ok");
    assert!(r.error.is_none());
    assert!(r.challenge().is_none());
}

/// The common part of every rejection: JSON, not reached, the error in the
/// extensions.
#[track_caller]
fn assert_rejected(r: &Reply, status: StatusCode, kind: AuthErrorKind) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(!r.reached(), "a rejection reached the inner service: {r:?}");
    assert_eq!(
        r.headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "{r:?}"
    );
    assert_eq!(r.kind(), Some(kind), "{r:?}");
}

/// 401 with the bare challenge `Bearer realm="api"` (no `error`): no credentials.
#[track_caller]
pub fn assert_missing(r: &Reply) {
    assert_rejected(
        r,
        StatusCode::UNAUTHORIZED,
        AuthErrorKind::MissingCredentials,
    );
    assert_eq!(r.challenge(), Some(r#"Bearer realm="api""#));
    assert_eq!(
        r.body,
        r#"{"error":"unauthorized","error_description":"No bearer token"}"#
    );
}

/// 400 `invalid_request` with `description`.
#[track_caller]
pub fn assert_invalid_request(r: &Reply, description: &str) {
    assert_rejected(r, StatusCode::BAD_REQUEST, AuthErrorKind::InvalidRequest);
    assert_eq!(
        r.challenge(),
        Some(&*format!(
            r#"Bearer realm="api", error="invalid_request", error_description="{description}""#
        ))
    );
    assert_eq!(
        r.body,
        format!(r#"{{"error":"invalid_request","error_description":"{description}"}}"#)
    );
}

/// 401 `invalid_token` with `description`.
#[track_caller]
pub fn assert_invalid_token(r: &Reply, description: &str) {
    assert_rejected(r, StatusCode::UNAUTHORIZED, AuthErrorKind::InvalidToken);
    assert_eq!(
        r.challenge(),
        Some(&*format!(
            r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
        ))
    );
    assert_eq!(
        r.body,
        format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#)
    );
}

/// A FastAPI-style rejection: `status`, exactly `{"detail":"<detail>"}`, and
/// exactly `challenge` (or no `WWW-Authenticate` at all).
#[track_caller]
pub fn assert_fastapi(r: &Reply, status: StatusCode, detail: &str, challenge: Option<&str>) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(!r.reached(), "a rejection reached the inner service: {r:?}");
    assert_eq!(r.body, format!(r#"{{"detail":"{detail}"}}"#));
    assert_eq!(
        r.headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    assert_eq!(r.challenge(), challenge, "{r:?}");
    assert!(r.error.is_some(), "no AuthError in the response extensions");
}

/// Parses a `Bearer` challenge into its auth-params, checking the RFC 6750 §3
/// syntax: `Bearer` alone, or `Bearer` SP `name="value"` joined by `, `, each
/// name at most once, values in the §3 character set (`scope` values are
/// scope-tokens separated by single spaces).
pub fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let Some(rest) = challenge.strip_prefix("Bearer") else {
        panic!("not a Bearer challenge: {challenge:?}");
    };
    if rest.is_empty() {
        return Vec::new();
    }
    let mut rest = rest.strip_prefix(' ').expect("SP after Bearer");
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        let (name, after) = rest.split_once("=\"").expect("name=\"value\"");
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "bad param name {name:?} in {challenge:?}"
        );
        let (value, after) = after.split_once('"').expect("closing quote");
        let qdtext = |b: u8| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
        assert!(
            value.bytes().all(qdtext),
            "value outside the RFC 6750 charset in {challenge:?}"
        );
        if name == "scope" {
            assert!(
                value
                    .split(' ')
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b != b' ' && qdtext(b))),
                "bad scope list in {challenge:?}"
            );
        }
        assert!(
            params.iter().all(|(n, _)| n != name),
            "{name} twice in {challenge:?}"
        );
        params.push((name.to_owned(), value.to_owned()));
        if after.is_empty() {
            return params;
        }
        rest = after.strip_prefix(", ").expect("`, ` between params");
    }
}
