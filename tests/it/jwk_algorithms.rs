//! Every algorithm signs and verifies, from PEM and from JWK; small RSA keys are
//! refused; keys of one type never verify tokens made for another.

use crate::keys::*;
use tower_jwt_auth::jwk::{Jwk, JwkErrorKind, JwkSet};
use tower_jwt_auth::rotation::KeyPair;
use tower_jwt_auth::{
    Algorithm, AuthError, Claims, JwtValidator, KeySet, KeySource, RefreshFuture, SigningKey,
    VerifyingKey,
};

use std::sync::Arc;

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn pem_pair(alg: Algorithm) -> (SigningKey, VerifyingKey) {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => (
            SigningKey::hmac(alg, SECRET_64).unwrap(),
            VerifyingKey::hmac(alg, SECRET_64).unwrap(),
        ),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => (
            SigningKey::rsa_pem(alg, RSA_2048).unwrap(),
            VerifyingKey::rsa_pem(alg, RSA_2048_PUB).unwrap(),
        ),
        ES256 => (
            SigningKey::ec_pem(alg, P256).unwrap(),
            VerifyingKey::ec_pem(alg, P256_PUB).unwrap(),
        ),
        ES384 => (
            SigningKey::ec_pem(alg, P384).unwrap(),
            VerifyingKey::ec_pem(alg, P384_PUB).unwrap(),
        ),
        _ => (
            SigningKey::ed_pem(ED25519).unwrap(),
            VerifyingKey::ed_pem(ED25519_PUB).unwrap(),
        ),
    }
}

fn header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_algorithm_signs_and_verifies_from_pem() {
    for alg in ALL {
        let (signing, verifying) = pem_pair(alg);
        let token = signing.sign(&claims()).unwrap();
        assert_eq!(header(&token)["alg"], format!("{alg:?}"));
        let validator = JwtValidator::from_key(verifying).unwrap();
        let got = validator.validate::<Claims>(&token);
        assert!(got.is_ok(), "{alg:?}: {got:?}");
        // A flipped signature byte is refused.
        let mut bad = token.clone().into_bytes();
        let i = bad.len() - 3;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let err = validator
            .validate::<Claims>(std::str::from_utf8(&bad).unwrap())
            .unwrap_err();
        assert_eq!(err.description(), "Invalid signature", "{alg:?}");
    }
}

#[test]
fn every_algorithm_verifies_from_its_published_jwk() {
    for (alg, pair) in every_pair() {
        let token = pair.signing_key().sign(&claims()).unwrap();
        assert_eq!(header(&token)["kid"], pair.kid(), "{alg:?}");
        let jwk = match pair.jwk() {
            Some(jwk) => Jwk::from_json(jwk.to_json().as_bytes()).unwrap(),
            None => {
                // HMAC keys are never published; an `oct` JWK still loads.
                use base64::Engine;
                let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET_64);
                let json = format!(
                    r#"{{"kty":"oct","alg":"{alg:?}","kid":"{}","k":"{k}"}}"#,
                    pair.kid()
                );
                Jwk::from_json(json.as_bytes()).unwrap()
            }
        };
        assert_eq!(jwk.algorithm().unwrap(), alg);
        let key = jwk.verifying_key().unwrap();
        assert_eq!(key.algorithm(), alg);
        assert_eq!(key.kid(), Some(pair.kid()));
        let validator = JwtValidator::from_key(key).unwrap();
        let got = validator.validate::<Claims>(&token);
        assert!(got.is_ok(), "{alg:?}: {got:?}");
    }
}

#[test]
fn a_published_jwk_has_no_private_member_and_a_thumbprint_kid() {
    for (alg, pair) in every_pair() {
        let Some(jwk) = pair.jwk() else { continue };
        let json: serde_json::Value = serde_json::from_str(&jwk.to_json()).unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(json.get(private).is_none(), "{alg:?} publishes {private}");
        }
        assert_eq!(json["use"], "sig");
        assert_eq!(json["alg"], format!("{alg:?}"));
        // RFC 7638: base64url of a SHA-256 digest is 43 characters.
        assert_eq!(pair.kid().len(), 43, "{alg:?}");
    }
    // RSA keys of one modulus share the thumbprint whatever the algorithm.
    let a = KeyPair::rsa_pem(Algorithm::RS256, RSA_2048).unwrap();
    let b = KeyPair::rsa_pem(Algorithm::PS512, RSA_2048).unwrap();
    assert_eq!(a.kid(), b.kid());
}

/// RFC 8037 appendix A: the Ed25519 public key and the signature of A.4.
#[test]
fn rfc_8037_ed25519_vector_verifies() {
    let jwk = Jwk::from_json(
        br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    )
    .unwrap();
    let validator = JwtValidator::from_key(jwk.verifying_key().unwrap()).unwrap();
    let token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
                 hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    // The payload is not a claims object: refused only after the signature verified.
    let err = validator.validate::<Claims>(token).unwrap_err();
    assert_eq!(err.description(), "Malformed token claims");
    let mut bad = token.to_owned();
    bad.replace_range(bad.len() - 2.., "AA");
    let err = validator.validate::<Claims>(&bad).unwrap_err();
    assert_eq!(err.description(), "Invalid signature");
}

#[test]
fn rsa_under_2048_bits_is_refused_from_pem() {
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let err = VerifyingKey::rsa_pem(alg, RSA_1024_PUB).unwrap_err();
        assert!(err.to_string().contains("2048"), "{err}");
    }
}

#[test]
fn rsa_under_2048_bits_is_refused_from_jwk_and_as_a_key_pair() {
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let err = KeyPair::rsa_pem(alg, RSA_1024).unwrap_err().to_string();
        assert!(err.contains("2048") || err.contains("TooSmall"), "{err}");
    }
    let jwk = Jwk::from_json(include_bytes!("../data/rsa1024.jwk.json")).unwrap();
    let err = jwk.verifying_key().unwrap_err();
    assert_eq!(err.kind(), JwkErrorKind::InvalidKey);
    assert!(err.to_string().contains("2048"), "{err}");
    // In a set, the small key is skipped and the others load.
    let good = KeyPair::ec_pem(Algorithm::ES256, P256).unwrap();
    let json = format!(
        r#"{{"keys":[{},{}]}}"#,
        include_str!("../data/rsa1024.jwk.json").trim(),
        good.jwk().unwrap().to_json()
    );
    let (set, skipped) = JwkSet::from_json(json.as_bytes()).unwrap().to_key_set();
    assert_eq!(set.len(), 1);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].kid(), Some("small"));
}

/// A key source with a fixed set and an allow-list of every algorithm, so that
/// only the key's own binding stands between a token and a wrong key.
struct Fixed(Arc<KeySet>);

impl KeySource for Fixed {
    fn keys(&self, _: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        Ok(self.0.clone())
    }
    fn refresh(&self, _: Option<&str>, _: &str) -> Option<RefreshFuture> {
        None
    }
}

#[test]
fn confusion_between_every_pair_of_key_types_is_refused() {
    let pairs = every_pair();
    for (alg_a, a) in &pairs {
        let token = a
            .signing_key()
            .clone()
            .with_kid("k")
            .sign(&claims())
            .unwrap();
        for (alg_b, b) in &pairs {
            let key = b.verifying_key().clone().with_kid("k");
            let set = KeySet::new().with(key.clone()).unwrap();
            let loose = JwtValidator::from_source(Fixed(Arc::new(set)), ALL).unwrap();
            let strict = JwtValidator::from_key(key).unwrap();
            let (l, s) = (
                loose.validate::<Claims>(&token),
                strict.validate::<Claims>(&token),
            );
            if alg_a == alg_b {
                assert!(l.is_ok() && s.is_ok(), "{alg_a:?}: {l:?} {s:?}");
            } else {
                assert_eq!(
                    l.unwrap_err().description(),
                    "Invalid signature",
                    "{alg_a:?} token, {alg_b:?} key"
                );
                assert!(s.is_err(), "{alg_a:?} token, {alg_b:?} key");
            }
        }
    }
}

/// The classic attack: an HS256 token whose secret is the RSA public key's PEM.
#[test]
fn hmac_signed_with_a_public_key_is_refused() {
    for public in [RSA_2048_PUB, P256_PUB, ED25519_PUB] {
        let forged = SigningKey::hmac(Algorithm::HS256, public)
            .unwrap()
            .with_kid("k")
            .sign(&claims())
            .unwrap();
        let key = match public {
            RSA_2048_PUB => VerifyingKey::rsa_pem(Algorithm::RS256, public).unwrap(),
            P256_PUB => VerifyingKey::ec_pem(Algorithm::ES256, public).unwrap(),
            _ => VerifyingKey::ed_pem(public).unwrap(),
        }
        .with_kid("k");
        let set = Arc::new(KeySet::new().with(key.clone()).unwrap());
        let loose = JwtValidator::from_source(Fixed(set), ALL).unwrap();
        assert_eq!(
            loose.validate::<Claims>(&forged).unwrap_err().description(),
            "Invalid signature"
        );
        let strict = JwtValidator::from_key(key).unwrap();
        assert_eq!(
            strict
                .validate::<Claims>(&forged)
                .unwrap_err()
                .description(),
            "Token algorithm not allowed"
        );
    }
}

#[test]
fn jwk_alg_must_fit_the_key_type() {
    let ec = KeyPair::ec_pem(Algorithm::ES256, P256).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&ec.jwk().unwrap().to_json()).unwrap();
    for alg in ["RS256", "HS256", "ES384", "EdDSA"] {
        json["alg"] = alg.into();
        let jwk = Jwk::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(
            jwk.verifying_key().unwrap_err().kind(),
            JwkErrorKind::InvalidKey,
            "{alg}"
        );
    }
    json["alg"] = "none".into();
    let jwk = Jwk::from_json(json.to_string().as_bytes()).unwrap();
    assert_eq!(
        jwk.verifying_key().unwrap_err().kind(),
        JwkErrorKind::Unsupported
    );
    // Without alg, the curve decides.
    json.as_object_mut().unwrap().remove("alg");
    let jwk = Jwk::from_json(json.to_string().as_bytes()).unwrap();
    assert_eq!(jwk.verifying_key().unwrap().algorithm(), Algorithm::ES256);
}

#[test]
fn rsa_jwk_without_alg_is_rs256() {
    let rsa = KeyPair::rsa_pem(Algorithm::PS256, RSA_2048).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&rsa.jwk().unwrap().to_json()).unwrap();
    json.as_object_mut().unwrap().remove("alg");
    let key = Jwk::from_json(json.to_string().as_bytes())
        .unwrap()
        .verifying_key()
        .unwrap();
    assert_eq!(key.algorithm(), Algorithm::RS256);
}

#[test]
fn unusable_keys_are_skipped_with_a_reason_and_the_rest_load() {
    let ed = KeyPair::ed_pem(ED25519).unwrap().with_kid("good");
    let json = format!(
        r#"{{"keys":[
            {{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}},
            {{"kty":"EC","kid":"ops","crv":"P-256","key_ops":["encrypt"],"x":"AA","y":"AA"}},
            {{"kty":"EC","kid":"k1","crv":"secp256k1","x":"AA","y":"AA"}},
            {{"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"}},
            {{"kty":"OKP","kid":"x25519","crv":"X25519","x":"AA"}},
            {{"kty":"OKP","kid":"nocrv","x":"AA"}},
            {{"kty":"PQC","kid":"future"}},
            {{"kid":"nokty"}},
            {{"kty":"RSA","kid":"badb64","n":"***","e":"AQAB"}},
            {{"kty":"RSA","kid":"non","e":"AQAB"}},
            {{"kty":"EC","kid":"short","crv":"P-256","x":"AAAA","y":"AAAA"}},
            {{"kty":"EC","kid":"offcurve","crv":"P-256","x":"{z}","y":"{z}"}},
            {{"kty":"RSA","kid":"numbers","n":5,"e":3}},
            "not an object",
            {},
            {}
        ]}}"#,
        ed.jwk().unwrap().to_json(),
        ed.jwk().unwrap().to_json(),
        z = "A".repeat(43),
    );
    let (set, skipped) = JwkSet::from_json(json.as_bytes()).unwrap().to_key_set();
    assert_eq!(set.len(), 1, "{skipped:#?}");
    let reasons: Vec<(Option<&str>, JwkErrorKind)> = skipped
        .iter()
        .map(|s| (s.kid(), s.reason().kind()))
        .collect();
    use JwkErrorKind::*;
    for expected in [
        (Some("enc"), NotForSignatures),
        (Some("ops"), NotForSignatures),
        (Some("k1"), Unsupported),
        (Some("p521"), Unsupported),
        (Some("x25519"), Unsupported),
        (Some("nocrv"), Malformed),
        (Some("future"), Unsupported),
        (Some("nokty"), Malformed),
        (Some("badb64"), InvalidKey),
        (Some("non"), Malformed),
        (Some("short"), InvalidKey),
        (Some("offcurve"), InvalidKey),
        (Some("numbers"), Malformed),
        (None, Malformed),
        (Some("good"), InvalidKey), // the duplicate kid
    ] {
        assert!(reasons.contains(&expected), "{expected:?} in {reasons:#?}");
    }
    for s in &skipped {
        assert!(!s.to_string().is_empty());
    }
}

#[test]
fn a_document_that_is_not_a_jwk_set_is_malformed() {
    for doc in [
        &b"not json"[..],
        b"[]",
        b"{}",
        b"{\"keys\": {}}",
        b"{\"keys\": null}",
    ] {
        let err = JwkSet::from_json(doc).unwrap_err();
        assert_eq!(err.kind(), JwkErrorKind::Malformed);
    }
    assert!(JwkSet::from_json(b"{\"keys\": []}").unwrap().is_empty());
}

#[test]
fn debug_never_prints_a_symmetric_key() {
    let jwk = Jwk::from_json(br#"{"kty":"oct","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}"#)
        .unwrap();
    let debug = format!("{jwk:?}");
    assert!(!debug.contains("c2VjcmV0"), "{debug}");
    let pair = KeyPair::hmac(Algorithm::HS256, "h", SECRET_64).unwrap();
    assert!(!format!("{pair:?}").contains("0123"));
}

#[test]
fn an_oct_jwk_needs_alg_and_is_long_enough() {
    let err = Jwk::from_json(br#"{"kty":"oct","k":"c2VjcmV0"}"#)
        .unwrap()
        .verifying_key()
        .unwrap_err();
    assert_eq!(err.kind(), JwkErrorKind::Malformed);
    let err = Jwk::from_json(br#"{"kty":"oct","alg":"HS256","k":"c2VjcmV0"}"#)
        .unwrap()
        .verifying_key()
        .unwrap_err();
    assert_eq!(err.kind(), JwkErrorKind::InvalidKey);
}
