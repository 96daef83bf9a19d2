//! Interop with PyJWT, the library of the FastAPI tutorial.
//!
//! - a token made by PyJWT exactly as the tutorial does validates through the
//!   layer, with the default settings and with leeway 0;
//! - a token made by the crate decodes in PyJWT (`jwt.decode(token, SECRET_KEY,
//!   algorithms=["HS256"])`);
//! - the same both ways for RS256, PS256, ES256, ES384 and EdDSA (PyJWT needs
//!   `cryptography` for those: `pip install 'pyjwt[crypto]'`).
//!
//! Python is run with `std::process::Command`. When `python3` or the modules
//! are missing, the tests fail if the `CI` environment variable is set, and
//! otherwise print a skip message and return.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{key_file, parts, send, unb64, with_bearer, Reply, SECRET};
use http::StatusCode;
use tower_jwt_auth::{Algorithm, AuthLayer, Claims, JwtValidator, SigningKey, Style, VerifyingKey};

/// The FastAPI tutorial's token code, verbatim (plus a `main`).
const TUTORIAL: &str = r#"
import sys
from datetime import datetime, timedelta, timezone
import jwt

SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 30

def create_access_token(data: dict, expires_delta: timedelta | None = None):
    to_encode = data.copy()
    if expires_delta:
        expire = datetime.now(timezone.utc) + expires_delta
    else:
        expire = datetime.now(timezone.utc) + timedelta(minutes=15)
    to_encode.update({"exp": expire})
    encoded_jwt = jwt.encode(to_encode, SECRET_KEY, algorithm=ALGORITHM)
    return encoded_jwt

if sys.argv[1] == "default":
    print(create_access_token(data={"sub": "johndoe"}))
elif sys.argv[1] == "login":
    access_token_expires = timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)
    print(create_access_token(data={"sub": "johndoe"}, expires_delta=access_token_expires))
elif sys.argv[1] == "scopes":
    # The scopes tutorial: {"sub": user.username, "scope": " ".join(form_data.scopes)}
    print(create_access_token(data={"sub": "johndoe", "scope": " ".join(["me", "items"])}))
elif sys.argv[1] == "expired":
    print(create_access_token(data={"sub": "johndoe"}, expires_delta=timedelta(minutes=-5)))
"#;

/// Decodes a token as the tutorial's `get_current_user` does and prints the
/// payload and the header as JSON.
const DECODE: &str = r#"
import sys, json
import jwt

SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"

token = sys.argv[1]
payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
print(json.dumps({"payload": payload, "header": jwt.get_unverified_header(token)}))
"#;

/// Signs `{"sub": "johndoe", "exp": now + 900}` with the PEM private key of
/// argv[2] and algorithm argv[1].
const SIGN_ASYMMETRIC: &str = r#"
import sys
from datetime import datetime, timedelta, timezone
import jwt

key = open(sys.argv[2]).read()
exp = datetime.now(timezone.utc) + timedelta(minutes=15)
print(jwt.encode({"sub": "johndoe", "exp": exp}, key, algorithm=sys.argv[1]))
"#;

/// Decodes argv[1] with the PEM public key of argv[3], allowing only argv[2].
const DECODE_ASYMMETRIC: &str = r#"
import sys, json
import jwt

key = open(sys.argv[3]).read()
print(json.dumps(jwt.decode(sys.argv[1], key, algorithms=[sys.argv[2]])))
"#;

/// Whether `python3` can import every module of `modules`. Fails in CI when
/// it cannot; prints a skip message otherwise.
fn python_has(modules: &[&str]) -> bool {
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new("python3")
        .args(["-c", &code])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    let hint = "install it with `pip install 'pyjwt[crypto]'`";
    if std::env::var_os("CI").is_some() {
        panic!("CI: python3 cannot import {modules:?}; the interop tests need it ({hint})");
    }
    eprintln!(
        "SKIPPED (interop with PyJWT): python3 cannot import {modules:?}; {hint} to run these tests"
    );
    false
}

/// Runs a Python script; panics with its stderr if it fails.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn data_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn header_json(token: &str) -> serde_json::Value {
    serde_json::from_slice(&unb64(parts(token).0)).unwrap()
}

async fn through(layer: &AuthLayer, token: &str) -> Reply {
    send(layer, with_bearer(token)).await
}

// === PyJWT → the layer (HS256, the tutorial) =========================================

#[tokio::test]
async fn tutorial_token_validates_with_default_settings() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = python(TUTORIAL, &["login"]);
    assert_eq!(
        header_json(&token),
        serde_json::json!({"alg": "HS256", "typ": "JWT"})
    );
    let layer = AuthLayer::new(JwtValidator::hs256(SECRET).unwrap());
    let r = through(&layer, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = r.seen::<Claims>().unwrap();
    assert_eq!(claims.sub(), Some("johndoe"));
    let exp = claims.exp().unwrap();
    assert!(
        (now() + 29 * 60..=now() + 31 * 60).contains(&exp),
        "exp {exp}"
    );
}

#[tokio::test]
async fn tutorial_token_validates_with_zero_leeway() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = python(TUTORIAL, &["default"]);
    let v = JwtValidator::hs256(SECRET)
        .unwrap()
        .leeway(Duration::ZERO)
        .unwrap();
    let r = through(&AuthLayer::new(v), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.seen::<Claims>().unwrap().sub(), Some("johndoe"));
}

#[tokio::test]
async fn tutorial_token_validates_in_fastapi_style_with_scopes() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = python(TUTORIAL, &["scopes"]);
    let layer = AuthLayer::new(JwtValidator::hs256(SECRET).unwrap())
        .style(Style::FastApi)
        .require_scopes(["me", "items"])
        .unwrap();
    let r = through(&layer, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.seen::<Claims>().unwrap().scope(), Some("me items"));
}

#[tokio::test]
async fn expired_tutorial_token_is_refused() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = python(TUTORIAL, &["expired"]);
    let layer = AuthLayer::new(JwtValidator::hs256(SECRET).unwrap()).style(Style::FastApi);
    let r = through(&layer, &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, r#"{"detail":"Could not validate credentials"}"#);
    assert_eq!(r.error.unwrap().description(), "The access token expired");
}

#[tokio::test]
async fn tutorial_token_is_refused_with_another_secret() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = python(TUTORIAL, &["login"]);
    let layer = AuthLayer::new(JwtValidator::hs256(crate::common::OTHER_SECRET).unwrap());
    let r = through(&layer, &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error.unwrap().description(), "Invalid signature");
}

// === the crate → PyJWT (HS256) ==========================================================

#[test]
fn crate_token_decodes_in_pyjwt() {
    if !python_has(&["jwt"]) {
        return;
    }
    let exp = now() + 900;
    let claims = Claims::new("johndoe").with_exp(exp).with_iat(now());
    let token = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .sign(&claims)
        .unwrap();
    let out: serde_json::Value = serde_json::from_str(&python(DECODE, &[&token])).unwrap();
    assert_eq!(out["payload"]["sub"], "johndoe");
    assert_eq!(out["payload"]["exp"], exp);
    assert_eq!(out["header"]["alg"], "HS256");
    assert_eq!(out["header"]["typ"], "JWT");
}

#[test]
fn crate_token_from_the_shortcut_decodes_in_pyjwt() {
    if !python_has(&["jwt"]) {
        return;
    }
    let claims = Claims::new("johndoe")
        .with_exp(now() + 900)
        .with_scope("me items");
    let token = tower_jwt_auth::sign_hs256(SECRET, &claims).unwrap();
    let out: serde_json::Value = serde_json::from_str(&python(DECODE, &[&token])).unwrap();
    assert_eq!(out["payload"]["scope"], "me items");
}

#[test]
fn crate_token_with_at_jwt_typ_decodes_in_pyjwt() {
    if !python_has(&["jwt"]) {
        return;
    }
    let token = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_typ("at+jwt")
        .with_kid("k1")
        .sign(&Claims::new("johndoe").with_exp(now() + 900))
        .unwrap();
    let out: serde_json::Value = serde_json::from_str(&python(DECODE, &[&token])).unwrap();
    assert_eq!(out["payload"]["sub"], "johndoe");
    assert_eq!(out["header"]["typ"], "at+jwt");
    assert_eq!(out["header"]["kid"], "k1");
}

// === asymmetric algorithms, both ways ========================================================

struct Pair {
    alg: Algorithm,
    name: &'static str,
    private: &'static str,
    public: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        alg: Algorithm::RS256,
        name: "RS256",
        private: "rsa2048-private.pem",
        public: "rsa2048-public.pem",
    },
    Pair {
        alg: Algorithm::PS256,
        name: "PS256",
        private: "rsa2048-private.pem",
        public: "rsa2048-public.pem",
    },
    Pair {
        alg: Algorithm::ES256,
        name: "ES256",
        private: "ec-p256-private.pem",
        public: "ec-p256-public.pem",
    },
    Pair {
        alg: Algorithm::ES384,
        name: "ES384",
        private: "ec-p384-private.pem",
        public: "ec-p384-public.pem",
    },
    Pair {
        alg: Algorithm::EdDSA,
        name: "EdDSA",
        private: "ed25519-private.pem",
        public: "ed25519-public.pem",
    },
];

fn verifying_key(p: &Pair) -> VerifyingKey {
    let pem = key_file(p.public);
    match p.alg {
        Algorithm::RS256 | Algorithm::PS256 => VerifyingKey::rsa_pem(p.alg, pem),
        Algorithm::ES256 | Algorithm::ES384 => VerifyingKey::ec_pem(p.alg, pem),
        _ => VerifyingKey::ed_pem(pem),
    }
    .unwrap()
}

fn signing_key(p: &Pair) -> SigningKey {
    let pem = key_file(p.private);
    match p.alg {
        Algorithm::RS256 | Algorithm::PS256 => SigningKey::rsa_pem(p.alg, pem),
        Algorithm::ES256 | Algorithm::ES384 => SigningKey::ec_pem(p.alg, pem),
        _ => SigningKey::ed_pem(pem),
    }
    .unwrap()
}

#[tokio::test]
async fn pyjwt_asymmetric_tokens_validate_through_the_layer() {
    if !python_has(&["jwt", "cryptography"]) {
        return;
    }
    for p in PAIRS {
        let token = python(SIGN_ASYMMETRIC, &[p.name, &data_path(p.private)]);
        assert_eq!(header_json(&token)["alg"], p.name);
        let layer = AuthLayer::new(JwtValidator::from_key(verifying_key(p)).unwrap());
        let r = through(&layer, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {r:?}", p.name);
        assert_eq!(r.seen::<Claims>().unwrap().sub(), Some("johndoe"));
    }
}

#[test]
fn crate_asymmetric_tokens_decode_in_pyjwt() {
    if !python_has(&["jwt", "cryptography"]) {
        return;
    }
    for p in PAIRS {
        let token = signing_key(p)
            .sign(&Claims::new("johndoe").with_exp(now() + 900))
            .unwrap();
        let out: serde_json::Value = serde_json::from_str(&python(
            DECODE_ASYMMETRIC,
            &[&token, p.name, &data_path(p.public)],
        ))
        .unwrap();
        assert_eq!(out["sub"], "johndoe", "{}", p.name);
    }
}
