//! The crypto backend (issue 2: "a missing or doubled backend compiles and then
//! panics at the first verify"). The default build verifies; with both backends
//! enabled (CI runs `--all-features`) the crate picks aws-lc-rs and still
//! verifies, without panicking.

use crate::common::*;
use tower_jwt_auth::{Algorithm, AuthLayer, Claims, JwtValidator, SigningKey, VerifyingKey};

/// Signs a token with every algorithm and runs it through the layer.
async fn every_algorithm_round_trips() {
    let claims = Claims::new("johndoe").with_exp(EXP as i64);
    let rsa_private = key_file("rsa2048-private.pem");
    let rsa_public = key_file("rsa2048-public.pem");
    let cases: Vec<(SigningKey, VerifyingKey)> = vec![
        (
            SigningKey::hmac(Algorithm::HS256, SECRET).unwrap(),
            VerifyingKey::hmac(Algorithm::HS256, SECRET).unwrap(),
        ),
        (
            SigningKey::rsa_pem(Algorithm::RS256, &rsa_private).unwrap(),
            VerifyingKey::rsa_pem(Algorithm::RS256, &rsa_public).unwrap(),
        ),
        (
            SigningKey::rsa_pem(Algorithm::PS256, &rsa_private).unwrap(),
            VerifyingKey::rsa_pem(Algorithm::PS256, &rsa_public).unwrap(),
        ),
        (
            SigningKey::ec_pem(Algorithm::ES256, key_file("ec-p256-private.pem")).unwrap(),
            VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-public.pem")).unwrap(),
        ),
        (
            SigningKey::ec_pem(Algorithm::ES384, key_file("ec-p384-private.pem")).unwrap(),
            VerifyingKey::ec_pem(Algorithm::ES384, key_file("ec-p384-public.pem")).unwrap(),
        ),
        (
            SigningKey::ed_pem(key_file("ed25519-private.pem")).unwrap(),
            VerifyingKey::ed_pem(key_file("ed25519-public.pem")).unwrap(),
        ),
    ];
    for (signer, verifier) in cases {
        let alg = signer.algorithm();
        assert_eq!(verifier.algorithm(), alg);
        let token = signer.sign(&claims).unwrap();
        let validator = JwtValidator::from_key(verifier).unwrap().clock(|| NOW);
        let decoded: Claims = validator.validate(&token).unwrap();
        assert_eq!(decoded, claims, "{alg:?}");
        let layer = AuthLayer::new(validator);
        assert_ok(&send(&layer, with_bearer(&token)).await);
        // And a wrong signature is still refused (the backend is really used).
        let (h, p, s) = parts(&token);
        let mut sig = unb64(s);
        sig[0] ^= 0x80;
        let bad = format!("{h}.{p}.{}", b64(sig));
        let r = send(&layer, with_bearer(&bad)).await;
        assert_invalid_token(&r, "Invalid signature");
    }
}

#[tokio::test]
async fn the_enabled_backend_verifies_every_algorithm() {
    every_algorithm_round_trips().await;
}

#[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
#[tokio::test]
async fn default_backend_aws_lc_rs_verifies() {
    every_algorithm_round_trips().await;
}

#[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
#[tokio::test]
async fn both_backends_enabled_still_verifies() {
    // jsonwebtoken alone would refuse to pick a default provider here; the
    // crate calls aws-lc-rs directly, so nothing panics.
    every_algorithm_round_trips().await;
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
#[tokio::test]
async fn rust_crypto_backend_verifies() {
    every_algorithm_round_trips().await;
}
