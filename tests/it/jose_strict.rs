//! JOSE strictness (issue 9 §6): registered header parameters must have their
//! JSON types (RFC 7515 §4.1), the header and payload must be UTF-8 without lone
//! surrogate escapes, also in claims nobody reads (RFC 8259 §8.1/§8.2, RFC 8725
//! §3.7), and an optional cap on a token's lifetime.
//!
//! Every token is signed with HS256 and [`SECRET`], so a refusal is the check's,
//! never the signature's.

use std::time::Duration;

use crate::common::*;
use serde::Deserialize;
use tower_jwt_auth::{Algorithm, AuthLayer, Claims, JwtValidator, KeySet, VerifyingKey};

const MALFORMED_HEADER: &str = "Malformed token header";
const MALFORMED_CLAIMS: &str = "Malformed token claims";
const TOO_LONG: &str = "The access token lifetime is too long";

async fn send_with(v: JwtValidator, token: &str) -> Reply {
    send(&AuthLayer::new(v), with_bearer(token)).await
}

/// An HS256 token of raw header and payload bytes (not necessarily UTF-8).
fn hs256_bytes(header: &[u8], payload: &[u8]) -> String {
    hs256_input(&format!("{}.{}", b64(header), b64(payload)))
}

/// A validator whose one key has `kid` `k1`, so that a header may carry a `kid`.
fn kid_validator() -> JwtValidator {
    let key = VerifyingKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_kid("k1");
    JwtValidator::new(KeySet::new().with(key).unwrap())
        .unwrap()
        .clock(|| NOW)
}

/// A claims type of the application's own, which reads `sub` only: every other
/// member is skipped by serde.
#[derive(Debug, Deserialize)]
struct SubOnly {
    sub: String,
}

// === header parameters must have their JSON type ================================

/// The registered header parameters other than `alg`, with their JSON type.
const STRING_PARAMS: &[&str] = &["kid", "typ", "cty", "jku", "x5u", "x5t", "x5t#S256"];
const ARRAY_PARAMS: &[&str] = &["crit", "x5c"];
const OBJECT_PARAMS: &[&str] = &["jwk"];

/// JSON values of every type but the one named.
fn wrong_values(json_type: &str) -> Vec<&'static str> {
    let all = [
        ("null", "null"),
        ("bool", "true"),
        ("number", "1"),
        ("string", r#""a""#),
        ("array", r#"["a"]"#),
        ("object", r#"{"a":"b"}"#),
    ];
    let mut v: Vec<_> = all
        .iter()
        .filter(|(t, _)| *t != json_type)
        .map(|(_, v)| *v)
        .collect();
    if json_type == "array" {
        // An array, but not of strings.
        v.extend(["[1]", "[null]", r#"["a",{}]"#, "[[]]"]);
    }
    v
}

async fn assert_header_refused(header: &str) {
    let token = hs256_raw(header, &valid_payload());
    let r = send_with(kid_validator(), &token).await;
    assert!(
        r.error
            .as_ref()
            .is_some_and(|e| e.description() == MALFORMED_HEADER),
        "{header}: {r:?}"
    );
    assert_invalid_token(&r, MALFORMED_HEADER);
}

#[tokio::test]
async fn null_header_parameters_are_malformed() {
    let all = STRING_PARAMS
        .iter()
        .chain(ARRAY_PARAMS)
        .chain(OBJECT_PARAMS);
    for name in all {
        assert_header_refused(&format!(r#"{{"alg":"HS256","{name}":null}}"#)).await;
    }
}

#[tokio::test]
async fn null_alg_is_malformed() {
    assert_header_refused(r#"{"alg":null}"#).await;
}

#[tokio::test]
async fn crit_null_is_malformed() {
    assert_header_refused(r#"{"alg":"HS256","crit":null}"#).await;
}

#[tokio::test]
async fn kid_null_is_malformed() {
    // Before: treated as absent, so any key was tried.
    assert_header_refused(r#"{"alg":"HS256","kid":null}"#).await;
}

#[tokio::test]
async fn typ_null_is_malformed() {
    assert_header_refused(r#"{"alg":"HS256","typ":null}"#).await;
}

#[tokio::test]
async fn string_header_parameters_of_another_type_are_malformed() {
    for name in STRING_PARAMS.iter().chain(&["alg"]) {
        for value in wrong_values("string") {
            let header = if *name == "alg" {
                format!(r#"{{"alg":{value}}}"#)
            } else {
                format!(r#"{{"alg":"HS256","{name}":{value}}}"#)
            };
            assert_header_refused(&header).await;
        }
    }
}

#[tokio::test]
async fn array_header_parameters_of_another_type_are_malformed() {
    for name in ARRAY_PARAMS {
        for value in wrong_values("array") {
            assert_header_refused(&format!(r#"{{"alg":"HS256","{name}":{value}}}"#)).await;
        }
    }
}

#[tokio::test]
async fn jwk_of_another_type_is_malformed() {
    for value in wrong_values("object") {
        assert_header_refused(&format!(r#"{{"alg":"HS256","jwk":{value}}}"#)).await;
    }
}

#[tokio::test]
async fn crit_of_the_wrong_type_is_malformed_not_unsupported() {
    // A well-typed `crit` is "unsupported"; one of the wrong type is malformed.
    assert_header_refused(r#"{"alg":"HS256","crit":"exp"}"#).await;
    let token = hs256_raw(r#"{"alg":"HS256","crit":["exp"]}"#, &valid_payload());
    assert_invalid_token(
        &send_with(kid_validator(), &token).await,
        "Unsupported critical header parameter",
    );
}

#[tokio::test]
async fn duplicate_unused_header_parameters_are_malformed() {
    assert_header_refused(r#"{"alg":"HS256","jku":"https://a/j","jku":"https://b/j"}"#).await;
    assert_header_refused(r#"{"alg":"HS256","x5c":["AA"],"x5c":["AA"]}"#).await;
}

#[tokio::test]
async fn every_registered_header_parameter_well_typed_passes() {
    let header = concat!(
        r#"{"alg":"HS256","typ":"JWT","kid":"k1","cty":"example","#,
        r#""jku":"https://example.com/jwks.json","jwk":{"kty":"oct","k":"AA"},"#,
        r#""x5u":"https://example.com/cert.pem","x5c":["AAAA","BBBB"],"x5c2":null,"#,
        r#""x5t":"AAAA","x5t#S256":"AAAA","x-private":null}"#
    );
    let token = hs256_raw(header, &valid_payload());
    assert_ok(&send_with(kid_validator(), &token).await);
}

#[tokio::test]
async fn empty_x5c_and_jwk_pass() {
    let token = hs256_raw(r#"{"alg":"HS256","x5c":[],"jwk":{}}"#, &valid_payload());
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn escaped_header_strings_are_read() {
    // `\u004a` is `J`: the owned (unescaped) path gives the same value.
    let token = hs256_raw(
        r#"{"alg":"HS\u0032\u00356","typ":"\u004aWT","kid":"k\u0031"}"#,
        &valid_payload(),
    );
    assert_ok(&send_with(kid_validator(), &token).await);
}

#[tokio::test]
async fn valid_token_still_passes() {
    assert_ok(&send_token(&valid_token()).await);
    let claims: Claims = validator().validate(&valid_token()).unwrap();
    assert_eq!(claims.sub(), Some("johndoe"));
}

// === UTF-8 and surrogates =======================================================

async fn assert_claims_refused(payload: &[u8]) {
    let token = hs256_bytes(br#"{"alg":"HS256","typ":"JWT"}"#, payload);
    let shown = String::from_utf8_lossy(payload);
    // Through the layer (standard claims)...
    assert_invalid_token(&send_token(&token).await, MALFORMED_CLAIMS);
    // ...and for a claims type that reads `sub` only.
    let err = validator().validate::<SubOnly>(&token).unwrap_err();
    assert_eq!(err.description(), MALFORMED_CLAIMS, "{shown}");
    let err = validator().validate::<Claims>(&token).unwrap_err();
    assert_eq!(err.description(), MALFORMED_CLAIMS, "{shown}");
}

async fn assert_claims_pass(payload: &[u8]) {
    let token = hs256_bytes(br#"{"alg":"HS256","typ":"JWT"}"#, payload);
    assert_ok(&send_token(&token).await);
    let c: SubOnly = validator().validate(&token).unwrap();
    assert_eq!(c.sub, "johndoe");
}

#[tokio::test]
async fn lone_high_surrogate_in_an_unread_claim_is_refused() {
    assert_claims_refused(payload_with(r#""note":"\ud800""#).as_bytes()).await;
}

#[tokio::test]
async fn lone_surrogates_are_refused_wherever_they_are() {
    for extra in [
        r#""note":"\udc00""#,                // a lone low surrogate
        r#""note":"\uDFFF""#,                // upper case hex
        r#""note":"x\ud800y""#,              // high, then not an escape
        r#""note":"\ud800\u0041""#,          // high, then an escape that is not low
        r#""note":"\ud800\ud800""#,          // high, then high
        r#""note":"\ud800\n""#,              // high, then another escape
        r#""note":"\udc00\ud800""#,          // low, then high: the wrong order
        r#""\ud800":1"#,                     // in a member name
        r#""note":["a",{"deep":"\udbff"}]"#, // nested
        r#""note":"\\\ud800""#,              // an escaped backslash, then a real escape
    ] {
        assert_claims_refused(payload_with(extra).as_bytes()).await;
    }
}

#[tokio::test]
async fn lone_surrogate_in_a_read_claim_is_refused() {
    assert_claims_refused(format!(r#"{{"sub":"john\ud800","exp":{EXP}}}"#).as_bytes()).await;
}

#[tokio::test]
async fn invalid_utf8_in_an_unread_claim_is_refused() {
    let mut payload = payload_with(r#""note":"#).into_bytes();
    payload.pop(); // `}`
    payload.extend_from_slice(b"\"\xff\"}");
    assert_claims_refused(&payload).await;
}

#[tokio::test]
async fn other_invalid_utf8_is_refused() {
    for bad in [
        &b"\xc0\xaf"[..],    // overlong `/`
        b"\xed\xa0\x80",     // a surrogate, encoded as UTF-8 (CESU)
        b"\xe2\x82",         // truncated
        b"\xf4\x90\x80\x80", // above U+10FFFF
        b"\x80",             // a lone continuation byte
    ] {
        let mut payload = payload_with(r#""note":"#).into_bytes();
        payload.pop();
        payload.push(b'"');
        payload.extend_from_slice(bad);
        payload.extend_from_slice(b"\"}");
        assert_claims_refused(&payload).await;
    }
}

#[tokio::test]
async fn invalid_utf8_in_the_header_is_refused() {
    let token = hs256_bytes(
        b"{\"alg\":\"HS256\",\"x-note\":\"\xff\"}",
        valid_payload().as_bytes(),
    );
    assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
}

#[tokio::test]
async fn lone_surrogate_in_the_header_is_refused() {
    for header in [
        r#"{"alg":"HS256","x-note":"\ud800"}"#,
        r#"{"alg":"HS256","jwk":{"kty":"\udc00"}}"#,
        r#"{"alg":"HS256","x5c":["\ud800"]}"#,
    ] {
        let token = hs256_raw(header, &valid_payload());
        assert_invalid_token(&send_token(&token).await, MALFORMED_HEADER);
    }
}

#[tokio::test]
async fn valid_surrogate_pairs_pass() {
    assert_claims_pass(payload_with(r#""note":"\ud83d\ude00""#).as_bytes()).await;
    assert_claims_pass(payload_with(r#""note":"\uD83D\uDE00 and \udbff\udfff""#).as_bytes()).await;
    let token = hs256(&format!(r#"{{"sub":"john\ud83d\ude00","exp":{EXP}}}"#));
    let c: Claims = validator().validate(&token).unwrap();
    assert_eq!(c.sub(), Some("john\u{1f600}"));
}

#[tokio::test]
async fn escaped_backslash_before_u_passes() {
    // `\\ud800` is a backslash, then the letters `ud800`: no escape.
    assert_claims_pass(payload_with(r#""note":"\\ud800""#).as_bytes()).await;
    assert_claims_pass(payload_with(r#""note":"\\\\ud800 \\\\\\\ud83d\ude00""#).as_bytes()).await;
    let token = hs256(&format!(r#"{{"sub":"\\ud800","exp":{EXP}}}"#));
    let c: Claims = validator().validate(&token).unwrap();
    assert_eq!(c.sub(), Some(r"\ud800"));
}

#[tokio::test]
async fn raw_utf8_and_other_escapes_pass() {
    assert_claims_pass(
        payload_with("\"note\":\"caf\u{e9} \u{1f600} \\u00e9 \\\" \\/ \\n \\u0000 \\uffff\"")
            .as_bytes(),
    )
    .await;
}

// === maximum lifetime ===========================================================

const HOUR: u64 = 3600;

fn capped() -> JwtValidator {
    validator().max_lifetime(Duration::from_secs(HOUR))
}

fn token_exp_iat(exp: u64, iat: Option<u64>) -> String {
    match iat {
        Some(iat) => hs256(&format!(r#"{{"sub":"johndoe","exp":{exp},"iat":{iat}}}"#)),
        None => hs256(&format!(r#"{{"sub":"johndoe","exp":{exp}}}"#)),
    }
}

#[track_caller]
fn assert_lifetime(v: &JwtValidator, exp: u64, iat: Option<u64>, ok: bool) {
    let token = token_exp_iat(exp, iat);
    let res = v.validate::<Claims>(&token);
    let res2 = v.validate::<SubOnly>(&token);
    if ok {
        assert!(res.is_ok(), "exp {exp} iat {iat:?}: {res:?}");
        assert!(res2.is_ok(), "exp {exp} iat {iat:?}: {res2:?}");
    } else {
        assert_eq!(
            res.unwrap_err().description(),
            TOO_LONG,
            "exp {exp} iat {iat:?}"
        );
        assert_eq!(
            res2.unwrap_err().description(),
            TOO_LONG,
            "exp {exp} iat {iat:?}"
        );
    }
}

#[test]
fn lifetime_exactly_at_the_cap_passes() {
    assert_lifetime(&capped(), NOW + HOUR, Some(NOW), true);
}

#[test]
fn lifetime_one_second_over_the_cap_is_refused() {
    assert_lifetime(&capped(), NOW + HOUR, Some(NOW - 1), false);
    // Even though `exp` is close: an old token that was issued for too long.
    assert_lifetime(&capped(), NOW + 10, Some(NOW + 10 - HOUR - 1), false);
}

#[test]
fn lifetime_cap_without_iat_bounds_exp_from_now_with_leeway() {
    let leeway = 60;
    assert_lifetime(&capped(), NOW + HOUR, None, true);
    assert_lifetime(&capped(), NOW + HOUR + leeway, None, true);
    assert_lifetime(&capped(), NOW + HOUR + leeway + 1, None, false);
    let strict = capped().leeway(Duration::ZERO).unwrap();
    assert_lifetime(&strict, NOW + HOUR, None, true);
    assert_lifetime(&strict, NOW + HOUR + 1, None, false);
}

#[test]
fn lifetime_cap_with_a_lying_iat_still_bounds_exp_from_now() {
    // `iat` in the future is refused on its own; one within the leeway, with
    // `exp - iat` at the cap, passes; a far `exp` with a matching `iat` does not.
    assert_lifetime(&capped(), NOW + 30 + HOUR, Some(NOW + 30), true);
    let far = NOW + 100 * HOUR;
    let token = token_exp_iat(far, Some(far - HOUR));
    assert_eq!(
        capped()
            .validate::<Claims>(&token)
            .unwrap_err()
            .description(),
        "The access token was issued in the future"
    );
}

#[test]
fn no_lifetime_cap_by_default() {
    let ten_years = 10 * 365 * 24 * HOUR;
    assert_lifetime(&validator(), NOW + ten_years, Some(NOW), true);
    assert_lifetime(&validator(), NOW + ten_years, None, true);
}

#[test]
fn huge_lifetime_cap_does_not_overflow() {
    let v = validator().max_lifetime(Duration::MAX);
    assert_lifetime(&v, i64::MAX as u64, Some(0), true);
    assert_lifetime(&v, NOW + HOUR, None, true);
    // A negative `iat` far in the past is not an overflow either.
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{},"iat":-9223372036854775808}}"#,
        NOW + 10
    ));
    let v = capped();
    match v.validate::<Claims>(&token) {
        Ok(_) => panic!("a lifetime of 2^63 s passed"),
        Err(e) => assert!(
            e.description() == TOO_LONG || e.description() == MALFORMED_CLAIMS,
            "{e:?}"
        ),
    }
}

#[test]
fn expired_token_is_reported_as_expired_not_too_long() {
    let token = token_exp_iat(NOW - 120, Some(NOW - 120 - 2 * HOUR));
    assert_eq!(
        capped()
            .validate::<Claims>(&token)
            .unwrap_err()
            .description(),
        "The access token expired"
    );
}

#[tokio::test]
async fn lifetime_cap_through_the_layer() {
    let token = token_exp_iat(NOW + 2 * HOUR, Some(NOW));
    assert_invalid_token(&send_with(capped(), &token).await, TOO_LONG);
    let token = token_exp_iat(NOW + HOUR, Some(NOW));
    assert_ok(&send_with(capped(), &token).await);
    // Off by default.
    assert_ok(&send_token(&token_exp_iat(NOW + 2 * HOUR, Some(NOW))).await);
}
