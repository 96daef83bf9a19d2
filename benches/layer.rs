//! Cost of `AuthLayer` per request.
//!
//! Run with `cargo bench --bench layer`. Compares, for one token:
//! - the inner service alone (the baseline every layer figure includes);
//! - the inner service behind `AuthLayer` (HS256, RS256, ES256, EdDSA);
//! - `jsonwebtoken::decode` of the same HS256 token;
//! - the raw signature check of the asymmetric algorithms (aws-lc-rs, key parsed once).
//!
//! Futures are polled with a no-op waker (every one is ready at once), so no
//! async runtime is measured. Keys are the test keys of `tests/data/`.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, Response};
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::{Algorithm, AuthLayer, Claims, JwtValidator, SigningKey, VerifyingKey};

const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

fn now_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("benchmarked futures are ready at once"),
    }
}

fn claims() -> Claims {
    Claims::new("johndoe")
        .with_exp(4_000_000_000)
        .with_iat(1_700_000_000)
        .with_scope("me items")
}

fn request(token: &str) -> Request<()> {
    Request::builder()
        .uri("/users/me/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request")
}

async fn inner(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

fn bench_layer(c: &mut Criterion, name: &str, validator: JwtValidator, token: &str) {
    let mut svc = AuthLayer::new(validator).layer(service_fn(inner));
    // Sanity: the token must be accepted, or we would measure the rejection path.
    let res = now_ready(svc.call(request(token))).expect("infallible");
    assert_eq!(res.status(), 200, "{name}: token refused");
    c.bench_function(&format!("layer/{name}"), |b| {
        b.iter_batched(
            || request(token),
            |req| now_ready(svc.call(req)),
            BatchSize::SmallInput,
        )
    });
}

fn benches(c: &mut Criterion) {
    let hs_key = SigningKey::hmac(Algorithm::HS256, SECRET).expect("key");
    let hs_token = hs_key.sign(&claims()).expect("sign");

    let mut bare = service_fn(inner);
    c.bench_function("inner service alone", |b| {
        b.iter_batched(
            || request(&hs_token),
            |req| now_ready(bare.call(req)),
            BatchSize::SmallInput,
        )
    });

    bench_layer(
        c,
        "HS256",
        JwtValidator::hs256(SECRET).expect("validator"),
        &hs_token,
    );

    let validator = JwtValidator::hs256(SECRET).expect("validator");
    c.bench_function("JwtValidator::validate/HS256", |b| {
        b.iter(|| validator.validate::<Claims>(black_box(&hs_token)))
    });

    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    c.bench_function("jsonwebtoken::decode/HS256", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&hs_token), &key, &validation))
    });

    let asym: [(&str, Algorithm, &str, &str); 3] = [
        (
            "RS256",
            Algorithm::RS256,
            include_str!("../tests/data/rsa2048.pem"),
            include_str!("../tests/data/rsa2048.pub.pem"),
        ),
        (
            "ES256",
            Algorithm::ES256,
            include_str!("../tests/data/p256.pem"),
            include_str!("../tests/data/p256.pub.pem"),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            include_str!("../tests/data/ed25519.pem"),
            include_str!("../tests/data/ed25519.pub.pem"),
        ),
    ];
    for (name, alg, private, public) in asym {
        let (signer, verifier) = match alg {
            Algorithm::RS256 => (
                SigningKey::rsa_pem(alg, private),
                VerifyingKey::rsa_pem(alg, public),
            ),
            Algorithm::ES256 => (
                SigningKey::ec_pem(alg, private),
                VerifyingKey::ec_pem(alg, public),
            ),
            _ => (SigningKey::ed_pem(private), VerifyingKey::ed_pem(public)),
        };
        let token = signer.expect("signing key").sign(&claims()).expect("sign");
        let validator = JwtValidator::from_key(verifier.expect("key")).expect("validator");
        bench_layer(c, name, validator, &token);
        raw_verify(c, name, alg, public, &token);
    }
}

/// The signature check alone, with the key parsed once: the floor for the layer.
fn raw_verify(c: &mut Criterion, name: &str, alg: Algorithm, public_pem: &str, token: &str) {
    use aws_lc_rs::signature as sig;
    use base64::Engine;
    let params: &'static dyn sig::VerificationAlgorithm = match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        _ => &sig::ED25519,
    };
    let der = match alg {
        Algorithm::RS256 => jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()),
        Algorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(public_pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_ed_pem(public_pem.as_bytes()),
    }
    .expect("pem");
    let jsonwebtoken::DecodingKeyKind::SecretOrDer(der) = der.kind() else {
        unreachable!()
    };
    let key = sig::ParsedPublicKey::new(params, der).expect("key");
    let (input, signature) = token.rsplit_once('.').expect("jws");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("b64");
    assert!(key.verify_sig(input.as_bytes(), &signature).is_ok());
    c.bench_function(&format!("raw signature check/{name}"), |b| {
        b.iter(|| key.verify_sig(black_box(input.as_bytes()), black_box(&signature)))
    });
}

criterion_group!(layer, benches);
criterion_main!(layer);
