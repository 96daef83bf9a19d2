//! Validating the JWT through the layer: issue 2, item 2.
//!
//! Every refusal is checked down to its `error_description`, which says which
//! check tripped (so that, say, algorithm confusion is shown to be refused by
//! the algorithm binding, not by luck).

use std::time::Duration;

use crate::common::*;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use tower_jwt_auth::{
    Algorithm, AuthLayer, Claims, ConfigError, JwtValidator, KeySet, SigningKey, TypPolicy,
    VerifyingKey,
};

const MALFORMED: &str = "Malformed token";
const MALFORMED_HEADER: &str = "Malformed token header";
const MALFORMED_CLAIMS: &str = "Malformed token claims";
const ALG_NOT_ALLOWED: &str = "Token algorithm not allowed";
const BAD_SIGNATURE: &str = "Invalid signature";
const EXPIRED: &str = "The access token expired";
const NOT_YET_VALID: &str = "The access token is not yet valid";
const ISSUED_IN_FUTURE: &str = "The access token was issued in the future";

const HS384_SECRET: &str = "a 48-byte secret for HS384 ....................!";
const HS512_SECRET: &str = "a 64-byte secret for HS512 ....................................!";

fn claims() -> Claims {
    Claims::new("johndoe").with_exp(EXP as i64)
}

fn at_now(v: JwtValidator) -> JwtValidator {
    v.clock(|| NOW)
}

async fn send_with(v: JwtValidator, token: &str) -> Reply {
    send(&AuthLayer::new(v), with_bearer(token)).await
}

fn rsa_public() -> Vec<u8> {
    key_file("rsa2048-public.pem")
}

fn rsa_validator(alg: Algorithm) -> JwtValidator {
    at_now(JwtValidator::from_key(VerifyingKey::rsa_pem(alg, rsa_public()).unwrap()).unwrap())
}

fn rsa_signer(alg: Algorithm) -> SigningKey {
    SigningKey::rsa_pem(alg, key_file("rsa2048-private.pem")).unwrap()
}

/// A validator whose clock reads `now`, with `leeway` seconds of leeway.
fn at(now: u64, leeway: u64) -> AuthLayer {
    let v = JwtValidator::hs256(SECRET)
        .unwrap()
        .leeway(Duration::from_secs(leeway))
        .unwrap()
        .clock(move || now);
    AuthLayer::new(v)
}

// === algorithms that validate ===================================================

#[tokio::test]
async fn hs256_token_is_accepted() {
    let r = send_token(&valid_token()).await;
    assert_ok(&r);
    let c = r.seen::<Claims>().unwrap();
    assert_eq!(c.sub(), Some("johndoe"));
    assert_eq!(c.exp(), Some(EXP as i64));
}

#[tokio::test]
async fn hs384_token_is_accepted() {
    let token = SigningKey::hmac(Algorithm::HS384, HS384_SECRET)
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = at_now(
        JwtValidator::from_key(VerifyingKey::hmac(Algorithm::HS384, HS384_SECRET).unwrap())
            .unwrap(),
    );
    assert_ok(&send_with(v, &token).await);
}

#[tokio::test]
async fn hs512_token_is_accepted() {
    let token = SigningKey::hmac(Algorithm::HS512, HS512_SECRET)
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = at_now(
        JwtValidator::from_key(VerifyingKey::hmac(Algorithm::HS512, HS512_SECRET).unwrap())
            .unwrap(),
    );
    assert_ok(&send_with(v, &token).await);
}

#[tokio::test]
async fn hs256_token_signed_with_raw_hmac_is_accepted() {
    // The helper used to craft malformed tokens makes valid ones too.
    let token = hmac_token(
        Algorithm::HS256,
        SECRET.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &valid_payload(),
    );
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn rs256_token_is_accepted() {
    let token = rsa_signer(Algorithm::RS256).sign(&claims()).unwrap();
    assert_ok(&send_with(rsa_validator(Algorithm::RS256), &token).await);
}

#[tokio::test]
async fn rs256_token_signed_with_raw_aws_lc_is_accepted() {
    let token = rs256_raw(
        &key_file("rsa2048-private.pem"),
        r#"{"alg":"RS256","typ":"JWT"}"#,
        &valid_payload(),
    );
    assert_ok(&send_with(rsa_validator(Algorithm::RS256), &token).await);
}

#[tokio::test]
async fn rs384_and_rs512_tokens_are_accepted() {
    for alg in [Algorithm::RS384, Algorithm::RS512] {
        let token = rsa_signer(alg).sign(&claims()).unwrap();
        assert_ok(&send_with(rsa_validator(alg), &token).await);
    }
}

#[tokio::test]
async fn ps256_token_is_accepted() {
    let token = rsa_signer(Algorithm::PS256).sign(&claims()).unwrap();
    assert_ok(&send_with(rsa_validator(Algorithm::PS256), &token).await);
}

#[tokio::test]
async fn ps384_and_ps512_tokens_are_accepted() {
    for alg in [Algorithm::PS384, Algorithm::PS512] {
        let token = rsa_signer(alg).sign(&claims()).unwrap();
        assert_ok(&send_with(rsa_validator(alg), &token).await);
    }
}

#[tokio::test]
async fn es256_token_is_accepted() {
    let token = SigningKey::ec_pem(Algorithm::ES256, key_file("ec-p256-private.pem"))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-public.pem")).unwrap();
    assert_ok(&send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await);
}

#[tokio::test]
async fn es384_token_is_accepted() {
    let token = SigningKey::ec_pem(Algorithm::ES384, key_file("ec-p384-private.pem"))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = VerifyingKey::ec_pem(Algorithm::ES384, key_file("ec-p384-public.pem")).unwrap();
    assert_ok(&send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await);
}

#[tokio::test]
async fn eddsa_token_is_accepted() {
    let token = SigningKey::ed_pem(key_file("ed25519-private.pem"))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = VerifyingKey::ed_pem(key_file("ed25519-public.pem")).unwrap();
    assert_ok(&send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await);
}

// === alg: none ==================================================================

#[tokio::test]
async fn alg_none_in_every_casing_without_signature_is_refused() {
    for none in ["none", "None", "NONE", "nOnE"] {
        let token = format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{none}","typ":"JWT"}}"#)),
            b64(valid_payload())
        );
        let r = send_token(&token).await;
        assert_invalid_token(&r, ALG_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn alg_none_in_every_casing_with_an_hmac_signature_is_refused() {
    for none in ["none", "None", "NONE", "nOnE"] {
        let token = hs256_raw(&format!(r#"{{"alg":"{none}"}}"#), &valid_payload());
        assert_invalid_token(&send_token(&token).await, ALG_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn alg_none_without_the_trailing_dot_is_refused() {
    let token = format!("{}.{}", b64(r#"{"alg":"none"}"#), b64(valid_payload()));
    assert_invalid_token(&send_token(&token).await, MALFORMED);
}

#[tokio::test]
async fn alg_none_is_refused_by_an_asymmetric_validator_too() {
    let token = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(valid_payload()));
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn alg_in_lowercase_is_refused() {
    let token = hs256_raw(r#"{"alg":"hs256"}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn missing_alg_is_refused() {
    let token = hs256_raw(r#"{"typ":"JWT"}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn alg_not_a_string_is_refused() {
    let token = hs256_raw(r#"{"alg":256}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn algorithm_not_configured_is_refused() {
    // An HS384 token, correctly signed with SECRET, against an HS256-only validator.
    let token = hmac_token(
        Algorithm::HS384,
        SECRET.as_bytes(),
        r#"{"alg":"HS384"}"#,
        &valid_payload(),
    );
    assert_invalid_token(&send_token(&token).await, ALG_NOT_ALLOWED);
}

// === algorithm confusion ========================================================

#[tokio::test]
async fn hs256_token_keyed_with_rsa_public_pem_is_refused() {
    let token = hmac_token(
        Algorithm::HS256,
        &rsa_public(),
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &valid_payload(),
    );
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn hs256_token_keyed_with_rsa_public_der_is_refused() {
    let der = key_file("rsa2048-public.der");
    assert_eq!(der, pem_to_der(&rsa_public()));
    let token = hmac_token(
        Algorithm::HS256,
        &der,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &valid_payload(),
    );
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn hs256_token_keyed_with_rsa_public_pem_is_refused_beside_an_hmac_key() {
    // HS256 is allowed here (for SECRET), but only SECRET verifies HS256.
    let keys = KeySet::new()
        .with(VerifyingKey::rsa_pem(Algorithm::RS256, rsa_public()).unwrap())
        .unwrap()
        .with(VerifyingKey::hmac(Algorithm::HS256, SECRET).unwrap())
        .unwrap();
    let v = at_now(JwtValidator::new(keys).unwrap());
    for key in [rsa_public(), key_file("rsa2048-public.der")] {
        let token = hmac_token(
            Algorithm::HS256,
            &key,
            r#"{"alg":"HS256"}"#,
            &valid_payload(),
        );
        assert_invalid_token(&send_with(v.clone(), &token).await, BAD_SIGNATURE);
    }
}

#[tokio::test]
async fn hs256_token_keyed_with_rsa_pem_and_kid_of_the_rsa_key_is_refused() {
    let keys = KeySet::new()
        .with(
            VerifyingKey::rsa_pem(Algorithm::RS256, rsa_public())
                .unwrap()
                .with_kid("rsa"),
        )
        .unwrap()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, SECRET)
                .unwrap()
                .with_kid("hmac"),
        )
        .unwrap();
    let v = at_now(JwtValidator::new(keys).unwrap());
    let token = hmac_token(
        Algorithm::HS256,
        &rsa_public(),
        r#"{"alg":"HS256","kid":"rsa"}"#,
        &valid_payload(),
    );
    assert_invalid_token(&send_with(v, &token).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn rs256_token_against_a_ps256_bound_key_is_refused() {
    // Same RSA key, but bound to PS256: the key verifies one algorithm only.
    let token = rsa_signer(Algorithm::RS256).sign(&claims()).unwrap();
    let r = send_with(rsa_validator(Algorithm::PS256), &token).await;
    assert_invalid_token(&r, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn es256_token_against_an_es384_validator_is_refused() {
    let token = SigningKey::ec_pem(Algorithm::ES256, key_file("ec-p256-private.pem"))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let v = VerifyingKey::ec_pem(Algorithm::ES384, key_file("ec-p384-public.pem")).unwrap();
    let r = send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await;
    assert_invalid_token(&r, ALG_NOT_ALLOWED);
}

#[tokio::test]
async fn es256_header_over_an_eddsa_signature_is_refused() {
    // An EdDSA token relabelled ES256, against a validator for both keys.
    let token = SigningKey::ed_pem(key_file("ed25519-private.pem"))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let (_, payload, sig) = parts(&token);
    let relabelled = format!("{}.{payload}.{sig}", b64(r#"{"alg":"ES256"}"#));
    let keys = KeySet::new()
        .with(VerifyingKey::ed_pem(key_file("ed25519-public.pem")).unwrap())
        .unwrap()
        .with(VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-public.pem")).unwrap())
        .unwrap();
    let r = send_with(at_now(JwtValidator::new(keys).unwrap()), &relabelled).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

// === tampering and wrong keys ===================================================

#[tokio::test]
async fn tampered_payload_is_refused() {
    let token = valid_token();
    let (h, _, s) = parts(&token);
    let forged = b64(format!(r#"{{"sub":"admin","exp":{EXP}}}"#));
    assert_invalid_token(
        &send_token(&format!("{h}.{forged}.{s}")).await,
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn extended_expiry_is_refused() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    let (h, _, s) = parts(&token);
    let forged = b64(format!(r#"{{"sub":"johndoe","exp":{EXP}}}"#));
    assert_invalid_token(
        &send_token(&format!("{h}.{forged}.{s}")).await,
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn tampered_header_is_refused() {
    let token = valid_token();
    let (_, p, s) = parts(&token);
    let forged = b64(r#"{"alg":"HS256","typ":"at+jwt"}"#);
    assert_invalid_token(
        &send_token(&format!("{forged}.{p}.{s}")).await,
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let token = valid_token();
    let (h, p, s) = parts(&token);
    let mut sig = unb64(s);
    sig[10] ^= 0x01;
    assert_invalid_token(
        &send_token(&format!("{h}.{p}.{}", b64(sig))).await,
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn signature_of_another_token_is_refused() {
    let a = valid_token();
    let b = hs256(&format!(r#"{{"sub":"admin","exp":{EXP}}}"#));
    let (h, p, _) = parts(&b);
    let (_, _, s) = parts(&a);
    assert_invalid_token(&send_token(&format!("{h}.{p}.{s}")).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn truncated_signature_is_refused() {
    let token = valid_token();
    let (h, p, s) = parts(&token);
    let sig = unb64(s);
    let short = b64(&sig[..sig.len() - 3]);
    assert_invalid_token(
        &send_token(&format!("{h}.{p}.{short}")).await,
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn empty_signature_is_refused() {
    let token = valid_token();
    let (h, p, _) = parts(&token);
    assert_invalid_token(&send_token(&format!("{h}.{p}.")).await, MALFORMED);
}

#[tokio::test]
async fn token_truncated_in_the_payload_is_refused() {
    let token = valid_token();
    let cut = &token[..token.find('.').unwrap() + 10];
    assert_invalid_token(&send_token(cut).await, MALFORMED);
}

#[tokio::test]
async fn token_truncated_by_one_character_is_refused() {
    let token = valid_token();
    let r = send_token(&token[..token.len() - 1]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.kind(), Some(tower_jwt_auth::AuthErrorKind::InvalidToken));
}

#[tokio::test]
async fn hs256_token_signed_with_another_secret_is_refused() {
    let token = hmac_token(
        Algorithm::HS256,
        OTHER_SECRET.as_bytes(),
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &valid_payload(),
    );
    assert_invalid_token(&send_token(&token).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn rs256_token_signed_with_another_rsa_key_is_refused() {
    let token = rs256_raw(
        &key_file("rsa2048-other-private.pem"),
        r#"{"alg":"RS256"}"#,
        &valid_payload(),
    );
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn hs256_signature_of_the_wrong_length_is_refused() {
    let token = valid_token();
    let (h, p, _) = parts(&token);
    let long = b64([0u8; 64]);
    assert_invalid_token(&send_token(&format!("{h}.{p}.{long}")).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn es256_all_zero_signature_is_refused() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    let input = format!("{}.{}", b64(r#"{"alg":"ES256"}"#), b64(valid_payload()));
    let token = format!("{input}.{}", b64([0u8; 64]));
    let v = VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-public.pem")).unwrap();
    let r = send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn es256_der_encoded_signature_is_refused() {
    // JWS ES256 signatures are the fixed 64-byte r || s, not ASN.1 DER.
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pem_to_der(&key_file("ec-p256-private.pem")),
    )
    .unwrap();
    let input = format!("{}.{}", b64(r#"{"alg":"ES256"}"#), b64(valid_payload()));
    let sig = key
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    let token = format!("{input}.{}", b64(sig.as_ref()));
    let v = VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-public.pem")).unwrap();
    let r = send_with(at_now(JwtValidator::from_key(v).unwrap()), &token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn oversized_signature_is_refused() {
    // Larger than any stack buffer: decoded on the heap, then refused.
    let token = valid_token();
    let (h, p, _) = parts(&token);
    let huge = b64(vec![0xAB; 3000]);
    assert_invalid_token(&send_token(&format!("{h}.{p}.{huge}")).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn large_header_is_accepted_when_signed() {
    // A 2 KB header (an x5c chain, say) is decoded beyond the stack buffer.
    let header = format!(r#"{{"alg":"HS256","x5c":["{}"]}}"#, "A".repeat(2000));
    assert_ok(&send_token(&hs256_raw(&header, &valid_payload())).await);
}

#[tokio::test]
async fn large_payload_is_accepted_when_signed() {
    let token = hs256(&payload_with(&format!(r#""pad":"{}""#, "y".repeat(3000))));
    assert_ok(&send_token(&token).await);
}

// === the shape of the token =====================================================

#[tokio::test]
async fn one_part_is_refused() {
    assert_invalid_token(&send_token(&b64(valid_payload())).await, MALFORMED);
}

#[tokio::test]
async fn two_parts_are_refused() {
    let token = valid_token();
    let (h, p, _) = parts(&token);
    assert_invalid_token(&send_token(&format!("{h}.{p}")).await, MALFORMED);
}

#[tokio::test]
async fn four_parts_are_refused() {
    let token = valid_token();
    assert_invalid_token(&send_token(&format!("{token}.AAAA")).await, MALFORMED);
}

#[tokio::test]
async fn extra_dot_between_parts_is_refused() {
    let token = valid_token();
    let (h, p, s) = parts(&token);
    assert_invalid_token(&send_token(&format!("{h}..{p}.{s}")).await, MALFORMED);
}

#[tokio::test]
async fn five_part_jwe_shaped_token_is_refused() {
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64([7u8; 256]),
        b64([1u8; 12]),
        b64(valid_payload()),
        b64([2u8; 16])
    );
    assert_invalid_token(&send_token(&jwe).await, MALFORMED);
}

#[tokio::test]
async fn dots_only_are_refused() {
    assert_invalid_token(&send_token("..").await, MALFORMED);
}

#[tokio::test]
async fn empty_header_part_is_refused() {
    let token = valid_token();
    let (_, p, s) = parts(&token);
    assert_invalid_token(&send_token(&format!(".{p}.{s}")).await, MALFORMED);
}

#[tokio::test]
async fn empty_payload_part_is_refused_even_when_signed() {
    let token = hs256_input(&format!("{}.", b64(r#"{"alg":"HS256"}"#)));
    assert_invalid_token(&send_token(&token).await, MALFORMED);
}

#[tokio::test]
async fn header_of_invalid_base64_length_is_refused() {
    let token = valid_token();
    let (_, p, s) = parts(&token);
    assert_invalid_token(&send_token(&format!("a.{p}.{s}")).await, MALFORMED);
}

// === header and payload must be JSON objects ===================================

#[tokio::test]
async fn header_json_array_is_refused() {
    let token = hs256_raw(r#"[{"alg":"HS256"}]"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_json_array_of_strings_is_refused() {
    // serde would map ["HS256"] onto a struct with one field `alg`.
    let token = hs256_raw(r#"["HS256"]"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_json_string_is_refused() {
    let token = hs256_raw(r#""HS256""#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_json_number_is_refused() {
    let token = hs256_raw("256", &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_json_null_is_refused() {
    let token = hs256_raw("null", &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_not_json_is_refused() {
    let token = hs256_raw("{alg:HS256}", &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_with_duplicate_alg_is_refused() {
    let token = hs256_raw(r#"{"alg":"HS256","alg":"none"}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn header_with_duplicate_kid_is_refused() {
    let token = hs256_raw(r#"{"alg":"HS256","kid":"a","kid":"b"}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn payload_json_array_is_refused() {
    let token = hs256(&format!(r#"[{}]"#, valid_payload()));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_json_array_of_values_is_refused() {
    // Positional: would fill exp, nbf, iat, iss, sub of a struct.
    let token = hs256(&format!(r#"[{EXP},null,null,null,"johndoe"]"#));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_json_string_is_refused() {
    let token = hs256(r#""johndoe""#);
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_json_number_is_refused() {
    let token = hs256("1700000000");
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_json_null_is_refused() {
    assert_invalid_token(&send_token(&hs256("null")).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_not_json_is_refused() {
    assert_invalid_token(&send_token(&hs256("sub=johndoe")).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_with_trailing_data_is_refused() {
    let token = hs256(&format!("{}x", valid_payload()));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn payload_not_utf8_is_refused() {
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"HS256"}"#),
        b64(b"{\"sub\":\"john\xff\",\"exp\":1800000000}")
    );
    assert_invalid_token(&send_token(&hs256_input(&input)).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn duplicate_exp_claim_is_refused() {
    let token = hs256(r#"{"sub":"johndoe","exp":1,"exp":2}"#);
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn duplicate_exp_claim_is_refused_when_both_are_valid() {
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{EXP},"exp":{}}}"#,
        EXP + 1
    ));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn duplicate_exp_claim_with_expired_first_is_refused() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":1,"exp":{EXP}}}"#));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn duplicate_sub_claim_is_refused() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{EXP},"sub":"admin"}}"#));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn duplicate_aud_claim_is_refused() {
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{EXP},"aud":"api","aud":"other"}}"#
    ));
    let v = validator().audience(["api"]);
    assert_invalid_token(&send_with(v, &token).await, MALFORMED_CLAIMS);
}

// === strict base64url ===========================================================

/// base64url that accepts non-zero trailing bits: to show that a refusal is
/// due to the strict decoder and not to a different signature.
fn lenient() -> GeneralPurpose {
    GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    )
}

/// The same part with its last character's unused low bits set: it decodes to
/// the same bytes under a lenient decoder.
fn with_trailing_bits(part: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused = match part.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => panic!("part has no trailing bits"),
    };
    let last = *part.as_bytes().last().unwrap();
    let i = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(i & unused, 0, "canonical encoding has zero trailing bits");
    let mut s = part[..part.len() - 1].to_owned();
    s.push(ALPHABET[i | 1] as char);
    assert_eq!(
        lenient().decode(&s).unwrap(),
        lenient().decode(part).unwrap()
    );
    s
}

#[tokio::test]
async fn signature_with_non_zero_trailing_bits_is_refused() {
    let token = valid_token();
    let (h, p, s) = parts(&token);
    assert_eq!(s.len() % 4, 3, "32 bytes -> 43 characters");
    let s = with_trailing_bits(s);
    assert_invalid_token(&send_token(&format!("{h}.{p}.{s}")).await, MALFORMED);
}

#[tokio::test]
async fn payload_with_non_zero_trailing_bits_is_refused_even_when_signed() {
    // Grow the payload until its encoding has trailing bits, then sign the
    // non-canonical text: the HMAC is right, the encoding is not.
    let mut n = 0;
    let payload = loop {
        let p = b64(payload_with(&format!(r#""n":"{}""#, "x".repeat(n))));
        if p.len() % 4 != 0 {
            break p;
        }
        n += 1;
    };
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"HS256"}"#),
        with_trailing_bits(&payload)
    );
    assert_invalid_token(&send_token(&hs256_input(&input)).await, MALFORMED);
}

/// A header for HS256 whose base64url encoding does not end on a quantum
/// boundary (so it has trailing bits, or would take padding).
fn unaligned_header() -> &'static str {
    let h = r#"{"alg":"HS256","x":12}"#;
    assert_ne!(h.len() % 3, 0);
    h
}

#[tokio::test]
async fn header_with_non_zero_trailing_bits_is_refused_even_when_signed() {
    let header = b64(unaligned_header());
    let input = format!("{}.{}", with_trailing_bits(&header), b64(valid_payload()));
    assert_invalid_token(&send_token(&hs256_input(&input)).await, MALFORMED);
}

#[tokio::test]
async fn padded_signature_is_refused() {
    let token = valid_token();
    assert!(token.len() % 4 != 0);
    assert_invalid_token(&send_token(&format!("{token}=")).await, MALFORMED);
}

#[tokio::test]
async fn padded_header_is_refused() {
    // `=` inside the token is outside b64token.
    let header = base64::engine::general_purpose::URL_SAFE.encode(unaligned_header());
    assert!(header.ends_with('='));
    let token = hs256_input(&format!("{header}.{}", b64(valid_payload())));
    assert_invalid_token(
        &send_token(&token).await,
        "The bearer token has characters outside the b64token set",
    );
}

#[tokio::test]
async fn standard_base64_alphabet_is_refused() {
    // Find a token whose signature has `-` or `_`, and send it with `+` or `/`.
    let token = (0..)
        .map(|i| hs256(&payload_with(&format!(r#""n":{i}"#))))
        .find(|t| parts(t).2.contains(['-', '_']))
        .unwrap();
    let (h, p, s) = parts(&token);
    let s = s.replace('-', "+").replace('_', "/");
    assert_invalid_token(&send_token(&format!("{h}.{p}.{s}")).await, MALFORMED);
}

// === exp, nbf, iat and leeway ===================================================

#[tokio::test]
async fn exp_is_required() {
    let token = hs256(r#"{"sub":"johndoe"}"#);
    assert_invalid_token(&send_token(&token).await, "Missing exp claim");
}

#[tokio::test]
async fn exp_null_counts_as_missing() {
    let token = hs256(r#"{"sub":"johndoe","exp":null}"#);
    let r = send_token(&token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.kind(), Some(tower_jwt_auth::AuthErrorKind::InvalidToken));
}

#[tokio::test]
async fn exp_as_a_string_is_refused() {
    let token = hs256(r#"{"sub":"johndoe","exp":"1800000000"}"#);
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn exp_out_of_range_is_refused() {
    let token = hs256(r#"{"sub":"johndoe","exp":1e300}"#);
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn exp_with_a_fraction_is_accepted() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{EXP}.5}}"#));
    let r = send_token(&token).await;
    assert_ok(&r);
    assert_eq!(r.seen::<Claims>().unwrap().exp(), Some(EXP as i64));
}

#[tokio::test]
async fn expired_token_is_refused() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    assert_invalid_token(&send_token(&token).await, EXPIRED);
}

#[tokio::test]
async fn exp_boundary_with_default_leeway_of_60_s() {
    let exp = NOW;
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{exp}}}"#));
    let v = |now: u64| AuthLayer::new(JwtValidator::hs256(SECRET).unwrap().clock(move || now));
    assert_ok(&send(&v(exp + 59), with_bearer(&token)).await);
    assert_invalid_token(&send(&v(exp + 60), with_bearer(&token)).await, EXPIRED);
}

#[tokio::test]
async fn exp_boundary_with_leeway_10_s() {
    let exp = NOW;
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{exp}}}"#));
    // now == exp + L is refused ("on or after"), now == exp + L - 1 accepted.
    assert_ok(&send(&at(exp + 9, 10), with_bearer(&token)).await);
    assert_invalid_token(&send(&at(exp + 10, 10), with_bearer(&token)).await, EXPIRED);
}

#[tokio::test]
async fn exp_boundary_with_zero_leeway() {
    let exp = NOW;
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{exp}}}"#));
    assert_ok(&send(&at(exp - 1, 0), with_bearer(&token)).await);
    assert_invalid_token(&send(&at(exp, 0), with_bearer(&token)).await, EXPIRED);
}

#[tokio::test]
async fn exp_boundary_with_maximum_leeway_300_s() {
    let exp = NOW;
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{exp}}}"#));
    assert_ok(&send(&at(exp + 299, 300), with_bearer(&token)).await);
    assert_invalid_token(
        &send(&at(exp + 300, 300), with_bearer(&token)).await,
        EXPIRED,
    );
}

#[tokio::test]
async fn nbf_in_the_future_beyond_leeway_is_refused() {
    let nbf = NOW + 61;
    let token = hs256(&payload_with(&format!(r#""nbf":{nbf}"#)));
    assert_invalid_token(&send_token(&token).await, NOT_YET_VALID);
}

#[tokio::test]
async fn nbf_boundary_with_default_leeway() {
    let nbf = NOW + 1000;
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{},"nbf":{nbf}}}"#,
        nbf + 1000
    ));
    assert_ok(&send(&at(nbf - 60, 60), with_bearer(&token)).await);
    assert_invalid_token(
        &send(&at(nbf - 61, 60), with_bearer(&token)).await,
        NOT_YET_VALID,
    );
}

#[tokio::test]
async fn nbf_boundary_with_zero_leeway() {
    let nbf = NOW + 1000;
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{},"nbf":{nbf}}}"#,
        nbf + 1000
    ));
    assert_ok(&send(&at(nbf, 0), with_bearer(&token)).await);
    assert_invalid_token(
        &send(&at(nbf - 1, 0), with_bearer(&token)).await,
        NOT_YET_VALID,
    );
}

#[tokio::test]
async fn nbf_in_the_past_is_accepted() {
    let token = hs256(&payload_with(&format!(r#""nbf":{}"#, NOW - 10)));
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn iat_in_the_future_beyond_leeway_is_refused() {
    let token = hs256(&payload_with(&format!(r#""iat":{}"#, NOW + 61)));
    assert_invalid_token(&send_token(&token).await, ISSUED_IN_FUTURE);
}

#[tokio::test]
async fn iat_boundary_with_default_leeway() {
    let iat = NOW + 500;
    let token = hs256(&payload_with(&format!(r#""iat":{iat}"#)));
    assert_ok(&send(&at(iat - 60, 60), with_bearer(&token)).await);
    assert_invalid_token(
        &send(&at(iat - 61, 60), with_bearer(&token)).await,
        ISSUED_IN_FUTURE,
    );
}

#[tokio::test]
async fn iat_boundary_with_zero_leeway() {
    let iat = NOW + 500;
    let token = hs256(&payload_with(&format!(r#""iat":{iat}"#)));
    assert_ok(&send(&at(iat, 0), with_bearer(&token)).await);
    assert_invalid_token(
        &send(&at(iat - 1, 0), with_bearer(&token)).await,
        ISSUED_IN_FUTURE,
    );
}

#[tokio::test]
async fn iat_in_the_past_is_accepted() {
    let token = hs256(&payload_with(&format!(r#""iat":{}"#, NOW - 100)));
    assert_ok(&send_token(&token).await);
}

#[test]
fn leeway_over_300_s_is_refused_at_construction() {
    let err = JwtValidator::hs256(SECRET)
        .unwrap()
        .leeway(Duration::from_secs(301))
        .unwrap_err();
    assert_eq!(err, ConfigError::LeewayTooLarge(301));
    assert!(JwtValidator::hs256(SECRET)
        .unwrap()
        .leeway(Duration::from_secs(300))
        .is_ok());
}

#[test]
fn default_leeway_is_60_s() {
    assert_eq!(tower_jwt_auth::DEFAULT_LEEWAY, Duration::from_secs(60));
}

// === iss and aud ================================================================

fn with_issuer() -> JwtValidator {
    validator().issuer(["https://auth.example.com"])
}

#[tokio::test]
async fn configured_issuer_accepts_the_matching_iss() {
    let token = hs256(&payload_with(r#""iss":"https://auth.example.com""#));
    assert_ok(&send_with(with_issuer(), &token).await);
}

#[tokio::test]
async fn configured_issuer_requires_iss() {
    assert_invalid_token(
        &send_with(with_issuer(), &valid_token()).await,
        "Invalid issuer",
    );
}

#[tokio::test]
async fn configured_issuer_refuses_another_iss() {
    let token = hs256(&payload_with(r#""iss":"https://evil.example.com""#));
    assert_invalid_token(&send_with(with_issuer(), &token).await, "Invalid issuer");
}

#[tokio::test]
async fn configured_issuer_is_case_sensitive() {
    let token = hs256(&payload_with(r#""iss":"https://AUTH.example.com""#));
    assert_invalid_token(&send_with(with_issuer(), &token).await, "Invalid issuer");
}

#[tokio::test]
async fn several_configured_issuers_accept_each() {
    let v = validator().issuer(["https://a.example", "https://b.example"]);
    for iss in ["https://a.example", "https://b.example"] {
        let token = hs256(&payload_with(&format!(r#""iss":"{iss}""#)));
        assert_ok(&send_with(v.clone(), &token).await);
    }
}

#[tokio::test]
async fn iss_not_a_string_is_refused() {
    let token = hs256(&payload_with(r#""iss":["https://auth.example.com"]"#));
    assert_invalid_token(&send_with(with_issuer(), &token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn unconfigured_issuer_accepts_any_iss() {
    let token = hs256(&payload_with(r#""iss":"https://anyone.example""#));
    assert_ok(&send_token(&token).await);
}

fn with_audience() -> JwtValidator {
    validator().audience(["api"])
}

#[tokio::test]
async fn configured_audience_accepts_aud_string() {
    let token = hs256(&payload_with(r#""aud":"api""#));
    assert_ok(&send_with(with_audience(), &token).await);
}

#[tokio::test]
async fn configured_audience_accepts_aud_array_containing_it() {
    let token = hs256(&payload_with(r#""aud":["other","api"]"#));
    assert_ok(&send_with(with_audience(), &token).await);
}

#[tokio::test]
async fn configured_audience_requires_aud() {
    assert_invalid_token(
        &send_with(with_audience(), &valid_token()).await,
        "Invalid audience",
    );
}

#[tokio::test]
async fn configured_audience_refuses_another_aud_string() {
    let token = hs256(&payload_with(r#""aud":"other""#));
    assert_invalid_token(
        &send_with(with_audience(), &token).await,
        "Invalid audience",
    );
}

#[tokio::test]
async fn configured_audience_refuses_aud_array_without_it() {
    let token = hs256(&payload_with(r#""aud":["other","API"]"#));
    assert_invalid_token(
        &send_with(with_audience(), &token).await,
        "Invalid audience",
    );
}

#[tokio::test]
async fn configured_audience_refuses_empty_aud_array() {
    let token = hs256(&payload_with(r#""aud":[]"#));
    assert_invalid_token(
        &send_with(with_audience(), &token).await,
        "Invalid audience",
    );
}

#[tokio::test]
async fn aud_not_a_string_is_refused() {
    let token = hs256(&payload_with(r#""aud":42"#));
    assert_invalid_token(&send_with(with_audience(), &token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn aud_present_but_not_configured_is_refused() {
    let token = hs256(&payload_with(r#""aud":"api""#));
    assert_invalid_token(&send_token(&token).await, "Invalid audience");
}

#[tokio::test]
async fn aud_array_present_but_not_configured_is_refused() {
    let token = hs256(&payload_with(r#""aud":["api"]"#));
    assert_invalid_token(&send_token(&token).await, "Invalid audience");
}

#[tokio::test]
async fn issuer_and_audience_together() {
    let v = with_issuer().audience(["api"]);
    let good = hs256(&payload_with(
        r#""iss":"https://auth.example.com","aud":"api""#,
    ));
    assert_ok(&send_with(v.clone(), &good).await);
    let no_aud = hs256(&payload_with(r#""iss":"https://auth.example.com""#));
    assert_invalid_token(&send_with(v, &no_aud).await, "Invalid audience");
}

// === sub ========================================================================

#[tokio::test]
async fn missing_sub_is_refused() {
    let token = hs256(&format!(r#"{{"exp":{EXP}}}"#));
    assert_invalid_token(&send_token(&token).await, "Missing sub claim");
}

#[tokio::test]
async fn sub_not_a_string_is_refused() {
    let token = hs256(&format!(r#"{{"sub":42,"exp":{EXP}}}"#));
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
}

#[tokio::test]
async fn missing_sub_is_accepted_when_not_required() {
    let token = hs256(&format!(r#"{{"exp":{EXP}}}"#));
    let r = send_with(validator().require_sub(false), &token).await;
    assert_ok(&r);
    assert_eq!(r.seen::<Claims>().unwrap().sub(), None);
}

// === typ ========================================================================

fn typ_token(typ: Option<&str>) -> String {
    let header = match typ {
        Some(t) => format!(r#"{{"alg":"HS256","typ":"{t}"}}"#),
        None => r#"{"alg":"HS256"}"#.to_owned(),
    };
    hs256_raw(&header, &valid_payload())
}

#[tokio::test]
async fn lenient_typ_accepts_jwt_at_jwt_and_absent() {
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("at+jwt"),
        Some("AT+JWT"),
        Some("application/at+jwt"),
        Some("Application/AT+JWT"),
    ] {
        let r = send_token(&typ_token(typ)).await;
        assert_eq!(r.status, 200, "typ {typ:?}: {r:?}");
    }
}

#[tokio::test]
async fn lenient_typ_refuses_other_types() {
    for typ in ["dpop+jwt", "secevent+jwt", "application/jwt+at", ""] {
        assert_invalid_token(
            &send_token(&typ_token(Some(typ))).await,
            "Token type not accepted",
        );
    }
}

#[tokio::test]
async fn access_token_typ_accepts_at_jwt_in_any_casing() {
    let v = validator().typ(TypPolicy::AccessToken);
    for typ in [
        "at+jwt",
        "AT+JWT",
        "At+Jwt",
        "application/at+jwt",
        "APPLICATION/AT+JWT",
    ] {
        let r = send_with(v.clone(), &typ_token(Some(typ))).await;
        assert_eq!(r.status, 200, "typ {typ}: {r:?}");
    }
}

#[tokio::test]
async fn access_token_typ_refuses_jwt() {
    let v = validator().typ(TypPolicy::AccessToken);
    assert_invalid_token(
        &send_with(v, &typ_token(Some("JWT"))).await,
        "Token type not accepted",
    );
}

#[tokio::test]
async fn access_token_typ_refuses_absent_typ() {
    let v = validator().typ(TypPolicy::AccessToken);
    assert_invalid_token(
        &send_with(v, &typ_token(None)).await,
        "Token type not accepted",
    );
}

#[tokio::test]
async fn access_token_typ_refuses_prefix_tricks() {
    let v = validator().typ(TypPolicy::AccessToken);
    for typ in ["application/", "applicationat+jwt", "x/at+jwt", "at+jwt "] {
        assert_invalid_token(
            &send_with(v.clone(), &typ_token(Some(typ))).await,
            "Token type not accepted",
        );
    }
}

#[tokio::test]
async fn non_ascii_typ_is_refused_without_panic() {
    // Multi-byte characters around the 12th byte (the `application/` prefix).
    for typ in ["ééééééé/at+jwt", "applicationé/at+jwt", "日本語日本語"] {
        for policy in [TypPolicy::Lenient, TypPolicy::AccessToken] {
            let r = send_with(validator().typ(policy), &typ_token(Some(typ))).await;
            assert_invalid_token(&r, "Token type not accepted");
        }
    }
}

#[tokio::test]
async fn typ_not_a_string_is_refused() {
    let token = hs256_raw(r#"{"alg":"HS256","typ":1}"#, &valid_payload());
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

// === crit, jku, x5u, jwk ========================================================

#[tokio::test]
async fn crit_header_is_refused() {
    let token = hs256_raw(
        &format!(r#"{{"alg":"HS256","crit":["exp"],"exp":{EXP}}}"#),
        &valid_payload(),
    );
    assert_invalid_token(
        &send_token(&token).await,
        "Unsupported critical header parameter",
    );
}

#[tokio::test]
async fn empty_crit_header_is_refused() {
    let token = hs256_raw(r#"{"alg":"HS256","crit":[]}"#, &valid_payload());
    assert_invalid_token(
        &send_token(&token).await,
        "Unsupported critical header parameter",
    );
}

#[tokio::test]
async fn crit_b64_false_is_refused() {
    // RFC 7797 unencoded payload: must not be validated as an ordinary JWS.
    let token = hs256_raw(
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        &valid_payload(),
    );
    assert_invalid_token(
        &send_token(&token).await,
        "Unsupported critical header parameter",
    );
}

#[tokio::test]
async fn jku_header_is_ignored() {
    // Never fetched (the address would refuse a connection): validated with the
    // configured key only.
    let token = hs256_raw(
        r#"{"alg":"HS256","jku":"http://127.0.0.1:9/jwks.json"}"#,
        &valid_payload(),
    );
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn x5u_header_is_ignored() {
    let token = hs256_raw(
        r#"{"alg":"HS256","x5u":"http://127.0.0.1:9/cert.pem"}"#,
        &valid_payload(),
    );
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn jku_header_does_not_make_a_wrongly_signed_token_valid() {
    let token = hmac_token(
        Algorithm::HS256,
        OTHER_SECRET.as_bytes(),
        r#"{"alg":"HS256","jku":"http://127.0.0.1:9/jwks.json"}"#,
        &valid_payload(),
    );
    assert_invalid_token(&send_token(&token).await, BAD_SIGNATURE);
}

fn attacker_jwk() -> String {
    String::from_utf8(key_file("rsa2048-other-public.jwk.json"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn token_signed_by_attacker_with_embedded_jwk_is_refused() {
    let header = format!(r#"{{"alg":"RS256","typ":"JWT","jwk":{}}}"#, attacker_jwk());
    let token = rs256_raw(
        &key_file("rsa2048-other-private.pem"),
        &header,
        &valid_payload(),
    );
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn token_signed_by_attacker_with_embedded_x5c_is_refused() {
    let header = format!(
        r#"{{"alg":"RS256","x5c":["{}"]}}"#,
        base64::engine::general_purpose::STANDARD
            .encode(pem_to_der(&key_file("rsa2048-other-public.pem")))
    );
    let token = rs256_raw(
        &key_file("rsa2048-other-private.pem"),
        &header,
        &valid_payload(),
    );
    let r = send_with(rsa_validator(Algorithm::RS256), &token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn embedded_jwk_is_ignored_for_a_token_of_the_configured_key() {
    let header = format!(r#"{{"alg":"RS256","jwk":{}}}"#, attacker_jwk());
    let token = rs256_raw(&key_file("rsa2048-private.pem"), &header, &valid_payload());
    assert_ok(&send_with(rsa_validator(Algorithm::RS256), &token).await);
}

// === kid ========================================================================

fn kid_validator() -> JwtValidator {
    let keys = KeySet::new()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, SECRET)
                .unwrap()
                .with_kid("k-a"),
        )
        .unwrap()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, OTHER_SECRET)
                .unwrap()
                .with_kid("k-b"),
        )
        .unwrap()
        .with(
            VerifyingKey::rsa_pem(Algorithm::RS256, rsa_public())
                .unwrap()
                .with_kid("k-rsa"),
        )
        .unwrap();
    at_now(JwtValidator::new(keys).unwrap())
}

fn kid_token(kid: &str, secret: &str) -> String {
    hmac_token(
        Algorithm::HS256,
        secret.as_bytes(),
        &format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#),
        &valid_payload(),
    )
}

#[tokio::test]
async fn kid_selects_the_first_key() {
    assert_ok(&send_with(kid_validator(), &kid_token("k-a", SECRET)).await);
}

#[tokio::test]
async fn kid_selects_the_second_key() {
    assert_ok(&send_with(kid_validator(), &kid_token("k-b", OTHER_SECRET)).await);
}

#[tokio::test]
async fn kid_selects_the_rsa_key() {
    let token = rsa_signer(Algorithm::RS256)
        .with_kid("k-rsa")
        .sign(&claims())
        .unwrap();
    assert_ok(&send_with(kid_validator(), &token).await);
}

#[tokio::test]
async fn kid_naming_another_key_than_the_signer_is_refused() {
    // Signed with k-b's secret but naming k-a: only k-a is tried.
    let r = send_with(kid_validator(), &kid_token("k-a", OTHER_SECRET)).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn unknown_kid_is_invalid_token() {
    let r = send_with(kid_validator(), &kid_token("k-unknown", SECRET)).await;
    assert_invalid_token(&r, "Unknown key id");
}

#[tokio::test]
async fn unknown_kid_with_a_single_unnamed_key_is_invalid_token() {
    let r = send_token(&kid_token("k-unknown", SECRET)).await;
    assert_invalid_token(&r, "Unknown key id");
}

#[tokio::test]
async fn empty_kid_is_invalid_token() {
    let r = send_with(kid_validator(), &kid_token("", SECRET)).await;
    assert_invalid_token(&r, "Unknown key id");
}

#[tokio::test]
async fn path_like_kid_is_invalid_token() {
    let r = send_with(kid_validator(), &kid_token("../../../etc/passwd", SECRET)).await;
    assert_invalid_token(&r, "Unknown key id");
}

#[tokio::test]
async fn kid_pointing_to_a_key_of_another_algorithm_is_refused() {
    // An HS256 token naming the RS256 key.
    let r = send_with(kid_validator(), &kid_token("k-rsa", SECRET)).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[tokio::test]
async fn rs256_token_naming_an_hmac_kid_is_refused() {
    let token = rsa_signer(Algorithm::RS256)
        .with_kid("k-a")
        .sign(&claims())
        .unwrap();
    assert_invalid_token(&send_with(kid_validator(), &token).await, BAD_SIGNATURE);
}

#[tokio::test]
async fn kid_not_a_string_is_refused() {
    let token = hs256_raw(r#"{"alg":"HS256","kid":1}"#, &valid_payload());
    assert_invalid_token(&send_with(kid_validator(), &token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn token_without_kid_is_checked_against_the_keys_of_its_algorithm() {
    let token = hmac_token(
        Algorithm::HS256,
        OTHER_SECRET.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &valid_payload(),
    );
    assert_ok(&send_with(kid_validator(), &token).await);
}

#[test]
fn duplicate_kid_is_refused_at_construction() {
    let err = KeySet::new()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, SECRET)
                .unwrap()
                .with_kid("k"),
        )
        .unwrap()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, OTHER_SECRET)
                .unwrap()
                .with_kid("k"),
        )
        .unwrap_err();
    assert_eq!(err, ConfigError::DuplicateKid("k".into()));
}

#[test]
fn empty_key_set_is_refused() {
    assert_eq!(
        JwtValidator::new(KeySet::new()).unwrap_err(),
        ConfigError::NoKeys
    );
}

// === keys refused at construction ===============================================

#[test]
fn hs256_key_shorter_than_32_bytes_is_refused() {
    let err = VerifyingKey::hmac(Algorithm::HS256, [7u8; 31]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::HmacKeyTooShort {
            algorithm: Algorithm::HS256,
            min: 32,
            len: 31
        }
    );
    assert!(VerifyingKey::hmac(Algorithm::HS256, [7u8; 32]).is_ok());
}

#[test]
fn hs384_key_shorter_than_48_bytes_is_refused() {
    let err = VerifyingKey::hmac(Algorithm::HS384, [7u8; 47]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::HmacKeyTooShort {
            algorithm: Algorithm::HS384,
            min: 48,
            len: 47
        }
    );
    assert!(VerifyingKey::hmac(Algorithm::HS384, [7u8; 48]).is_ok());
}

#[test]
fn hs512_key_shorter_than_64_bytes_is_refused() {
    let err = VerifyingKey::hmac(Algorithm::HS512, [7u8; 63]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::HmacKeyTooShort {
            algorithm: Algorithm::HS512,
            min: 64,
            len: 63
        }
    );
    assert!(VerifyingKey::hmac(Algorithm::HS512, [7u8; 64]).is_ok());
}

#[test]
fn empty_hmac_key_is_refused() {
    assert!(matches!(
        VerifyingKey::hmac(Algorithm::HS256, b""),
        Err(ConfigError::HmacKeyTooShort { len: 0, .. })
    ));
}

#[test]
fn short_secret_is_refused_by_the_hs256_shortcut() {
    assert!(matches!(
        JwtValidator::hs256("secret"),
        Err(ConfigError::HmacKeyTooShort {
            algorithm: Algorithm::HS256,
            min: 32,
            len: 6
        })
    ));
}

#[test]
fn short_secret_is_refused_for_signing() {
    assert!(matches!(
        SigningKey::hmac(Algorithm::HS256, "secret"),
        Err(ConfigError::HmacKeyTooShort { .. })
    ));
}

#[test]
fn short_key_error_message_does_not_contain_the_key() {
    let err = VerifyingKey::hmac(Algorithm::HS256, "my-short-secret").unwrap_err();
    assert!(!err.to_string().contains("my-short-secret"));
    assert!(!format!("{err:?}").contains("my-short-secret"));
}

#[test]
fn hmac_key_for_an_rsa_algorithm_is_refused() {
    assert!(matches!(
        VerifyingKey::hmac(Algorithm::RS256, SECRET),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn rsa_1024_bit_public_key_is_refused() {
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let err = VerifyingKey::rsa_pem(alg, key_file("rsa1024-public.pem")).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidKey { .. }),
            "{alg:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn token_signed_with_a_1024_bit_rsa_key_is_refused() {
    // Whether or not the key is refused at construction, no token it signed
    // may pass: signed with the 1024-bit private key, checked with its own
    // public key.
    // Made once with `openssl dgst -sha256 -sign` (aws-lc-rs will not sign
    // with so small a key): {"sub":"johndoe","exp":4000000000}.
    let token = String::from_utf8(key_file("rsa1024-rs256.jwt")).unwrap();
    let token = token.trim();
    let Ok(key) = VerifyingKey::rsa_pem(Algorithm::RS256, key_file("rsa1024-public.pem")) else {
        return; // refused at construction: nothing more to check
    };
    let r = send_with(at_now(JwtValidator::from_key(key).unwrap()), token).await;
    assert_invalid_token(&r, BAD_SIGNATURE);
}

#[test]
fn rsa_2048_bit_public_key_is_accepted_for_every_rsa_algorithm() {
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        assert!(VerifyingKey::rsa_pem(alg, rsa_public()).is_ok(), "{alg:?}");
    }
}

#[test]
fn rsa_key_for_a_non_rsa_algorithm_is_refused() {
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        assert!(matches!(
            VerifyingKey::rsa_pem(alg, rsa_public()),
            Err(ConfigError::AlgorithmMismatch { .. })
        ));
    }
}

#[test]
fn ec_key_given_as_rsa_is_refused() {
    assert!(VerifyingKey::rsa_pem(Algorithm::RS256, key_file("ec-p256-public.pem")).is_err());
}

#[test]
fn p384_key_for_es256_is_refused() {
    assert!(VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p384-public.pem")).is_err());
}

#[test]
fn p256_key_for_es384_is_refused() {
    assert!(VerifyingKey::ec_pem(Algorithm::ES384, key_file("ec-p256-public.pem")).is_err());
}

#[test]
fn ec_key_for_a_non_ec_algorithm_is_refused() {
    assert!(matches!(
        VerifyingKey::ec_pem(Algorithm::RS256, key_file("ec-p256-public.pem")),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn rsa_key_given_as_ed25519_is_refused() {
    assert!(VerifyingKey::ed_pem(rsa_public()).is_err());
}

#[test]
fn garbage_pem_is_refused_without_panic() {
    let garbage = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(VerifyingKey::rsa_pem(Algorithm::RS256, garbage).is_err());
    assert!(VerifyingKey::ec_pem(Algorithm::ES256, garbage).is_err());
    assert!(VerifyingKey::ed_pem(garbage).is_err());
    assert!(VerifyingKey::rsa_pem(Algorithm::RS256, b"not a pem").is_err());
}

#[test]
fn private_key_given_as_a_public_key_does_not_panic() {
    // Whatever the answer, it must be an answer.
    let _ = VerifyingKey::rsa_pem(Algorithm::RS256, key_file("rsa2048-private.pem"));
    let _ = VerifyingKey::ec_pem(Algorithm::ES256, key_file("ec-p256-private.pem"));
    let _ = VerifyingKey::ed_pem(key_file("ed25519-private.pem"));
}

#[test]
fn rsa_1024_bit_signing_key_is_refused() {
    let res = SigningKey::rsa_pem(Algorithm::RS256, key_file("rsa1024-private.pem"));
    assert!(
        res.is_err(),
        "a 1024-bit RSA key signs tokens nothing here verifies"
    );
}

#[test]
fn ec_signing_key_for_the_wrong_curve_is_refused() {
    assert!(SigningKey::ec_pem(Algorithm::ES384, key_file("ec-p256-private.pem")).is_err());
    assert!(SigningKey::ec_pem(Algorithm::ES256, key_file("ec-p384-private.pem")).is_err());
}
