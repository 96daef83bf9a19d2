//! Test keys, made with `openssl genpkey` for these tests only (never use them
//! elsewhere), and helpers shared by the `jwk_*` and `jwks_*` tests.
#![allow(dead_code, unreachable_pub)]

use tower_jwt_auth::rotation::KeyPair;
use tower_jwt_auth::{Algorithm, Claims};

pub const RSA_2048: &str = include_str!("../data/rsa2048.pem");
pub const RSA_2048_PUB: &str = include_str!("../data/rsa2048.pub.pem");
pub const RSA_2048_B: &str = include_str!("../data/rsa2048b.pem");
pub const RSA_2048_B_PUB: &str = include_str!("../data/rsa2048b.pub.pem");
pub const RSA_1024: &str = include_str!("../data/rsa1024.pem");
pub const RSA_1024_PUB: &str = include_str!("../data/rsa1024.pub.pem");
pub const P256: &str = include_str!("../data/p256.pem");
pub const P256_PUB: &str = include_str!("../data/p256.pub.pem");
pub const P384: &str = include_str!("../data/p384.pem");
pub const P384_PUB: &str = include_str!("../data/p384.pub.pem");
pub const ED25519: &str = include_str!("../data/ed25519.pem");
pub const ED25519_PUB: &str = include_str!("../data/ed25519.pub.pem");
pub const SECRET_64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Every algorithm with a key pair for it.
pub fn every_pair() -> Vec<(Algorithm, KeyPair)> {
    use Algorithm::*;
    let rsa = [RS256, RS384, RS512, PS256, PS384, PS512]
        .map(|alg| (alg, KeyPair::rsa_pem(alg, RSA_2048).expect("rsa")));
    let mut v: Vec<_> = rsa.into_iter().collect();
    v.push((ES256, KeyPair::ec_pem(ES256, P256).expect("p256")));
    v.push((ES384, KeyPair::ec_pem(ES384, P384).expect("p384")));
    v.push((EdDSA, KeyPair::ed_pem(ED25519).expect("ed25519")));
    for alg in [HS256, HS384, HS512] {
        v.push((
            alg,
            KeyPair::hmac(alg, format!("{alg:?}"), SECRET_64).expect("hmac"),
        ));
    }
    v
}

pub fn claims() -> Claims {
    Claims::new("johndoe").with_exp(4_000_000_000)
}
