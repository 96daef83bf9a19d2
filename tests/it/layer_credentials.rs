//! Reading `Authorization: Bearer <token>` (RFC 6750 §2.1, RFC 9110 §11): issue 2, item 1.

use crate::common::*;
use http::Request;
use http_body_util::Full;
use tower_jwt_auth::{AuthLayer, DEFAULT_MAX_TOKEN_LEN};

const EMPTY: &str = "Empty bearer token";
const NOT_B64TOKEN: &str = "The bearer token has characters outside the b64token set";
const TOO_LONG: &str = "Token too long";

async fn send_auth(values: &[&[u8]]) -> Reply {
    send(&layer(), with_authorization(values)).await
}

// --- no bearer credentials: 401 with a challenge that has no `error` ---------

#[tokio::test]
async fn no_authorization_header_is_401_without_error() {
    assert_missing(&send(&layer(), request()).await);
}

#[tokio::test]
async fn basic_scheme_is_401_without_error() {
    assert_missing(&send_auth(&[b"Basic dXNlcjpwYXNzd29yZA=="]).await);
}

#[tokio::test]
async fn digest_scheme_is_401_without_error() {
    assert_missing(&send_auth(&[b"Digest username=\"johndoe\", realm=\"api\""]).await);
}

#[tokio::test]
async fn token_scheme_with_a_valid_jwt_is_401_without_error() {
    let v = format!("Token {}", valid_token());
    assert_missing(&send_auth(&[v.as_bytes()]).await);
}

#[tokio::test]
async fn scheme_glued_to_token_is_another_scheme() {
    let v = format!("Bearer{}", valid_token());
    assert_missing(&send_auth(&[v.as_bytes()]).await);
}

#[tokio::test]
async fn access_token_in_query_is_ignored() {
    let req = Request::builder()
        .uri(format!("/me?access_token={}", valid_token()))
        .body(Full::default())
        .unwrap();
    assert_missing(&send(&layer(), req).await);
}

#[tokio::test]
async fn access_token_in_query_is_ignored_in_optional_mode() {
    let req = Request::builder()
        .uri(format!("/me?access_token={}", valid_token()))
        .body(Full::default())
        .unwrap();
    let r = send(&layer().optional(), req).await;
    assert_eq!(r.status, 200);
    assert!(r.seen::<tower_jwt_auth::Claims>().is_none());
}

// --- the scheme and the separator ---------------------------------------------

#[tokio::test]
async fn scheme_matches_in_every_casing() {
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR", "BeArEr"] {
        let v = format!("{scheme} {}", valid_token());
        let r = send_auth(&[v.as_bytes()]).await;
        assert_ok(&r);
        assert_eq!(
            r.seen::<tower_jwt_auth::Claims>().unwrap().sub(),
            Some("johndoe"),
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn several_spaces_before_the_token_are_accepted() {
    for spaces in [2, 3, 10] {
        let v = format!("Bearer{}{}", " ".repeat(spaces), valid_token());
        assert_ok(&send_auth(&[v.as_bytes()]).await);
    }
}

#[tokio::test]
async fn surrounding_whitespace_of_the_field_value_is_ignored() {
    // RFC 9110 §5.5: leading and trailing OWS is not part of the field value.
    let v = format!("  Bearer {}\t ", valid_token());
    assert_ok(&send_auth(&[v.as_bytes()]).await);
}

#[tokio::test]
async fn bearer_without_token_is_invalid_request() {
    assert_invalid_request(&send_auth(&[b"Bearer"]).await, EMPTY);
}

#[tokio::test]
async fn bearer_with_one_space_and_no_token_is_invalid_request() {
    assert_invalid_request(&send_auth(&[b"Bearer "]).await, EMPTY);
}

#[tokio::test]
async fn bearer_followed_by_spaces_only_is_invalid_request() {
    assert_invalid_request(&send_auth(&[b"Bearer      "]).await, EMPTY);
}

#[tokio::test]
async fn lowercase_bearer_with_empty_token_is_invalid_request() {
    assert_invalid_request(&send_auth(&[b"bearer "]).await, EMPTY);
}

#[tokio::test]
async fn tab_separator_is_invalid_request() {
    let v = format!("Bearer\t{}", valid_token());
    assert_invalid_request(
        &send_auth(&[v.as_bytes()]).await,
        "The bearer token must follow the scheme after a space, not a tab",
    );
}

#[tokio::test]
async fn space_then_tab_separator_is_invalid_request() {
    let v = format!("Bearer \t{}", valid_token());
    assert_invalid_request(
        &send_auth(&[v.as_bytes()]).await,
        "The bearer token must follow the scheme after a space, not a tab",
    );
}

#[tokio::test]
async fn two_authorization_field_lines_are_invalid_request() {
    let v = format!("Bearer {}", valid_token());
    assert_invalid_request(
        &send_auth(&[v.as_bytes(), v.as_bytes()]).await,
        "Several Authorization header fields",
    );
}

#[tokio::test]
async fn bearer_and_basic_field_lines_are_invalid_request() {
    let v = format!("Bearer {}", valid_token());
    assert_invalid_request(
        &send_auth(&[b"Basic dXNlcjpwYXNzd29yZA==", v.as_bytes()]).await,
        "Several Authorization header fields",
    );
}

#[tokio::test]
async fn two_field_lines_are_refused_even_in_optional_mode() {
    let v = format!("Bearer {}", valid_token());
    let r = send(
        &layer().optional(),
        with_authorization(&[v.as_bytes(), v.as_bytes()]),
    )
    .await;
    assert_invalid_request(&r, "Several Authorization header fields");
}

// --- the token's character set: 401 invalid_token ------------------------------

#[tokio::test]
async fn token_with_a_space_inside_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_a_comma_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc,def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_a_quote_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer \"abc\""]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_a_backslash_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc\\def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_a_dollar_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc$def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_padding_in_the_middle_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc==def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_of_padding_only_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer ==="]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn token_with_a_tab_inside_is_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer abc\tdef"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn valid_jwt_with_a_trailing_comma_is_invalid_token() {
    let v = format!("Bearer {},", valid_token());
    assert_invalid_token(&send_auth(&[v.as_bytes()]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn obs_text_bytes_are_invalid_token() {
    // Latin-1 "é" (0xE9) is obs-text: allowed in a field value, not in a b64token.
    assert_invalid_token(&send_auth(&[b"Bearer abc\xe9def"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn non_utf8_bytes_are_invalid_token() {
    assert_invalid_token(&send_auth(&[b"Bearer \xff\xfe\xfd"]).await, NOT_B64TOKEN);
}

#[tokio::test]
async fn utf8_non_ascii_token_is_invalid_token() {
    assert_invalid_token(
        &send_auth(&["Bearer jöhn.dœ.sig".as_bytes()]).await,
        NOT_B64TOKEN,
    );
}

#[tokio::test]
async fn b64token_punctuation_is_accepted_by_the_reader() {
    // `~ + /` and trailing `=` are b64token characters: the reader passes the
    // token on, and the JWT validator refuses it (not a JWS), still 401.
    assert_invalid_token(&send_auth(&[b"Bearer a~b+c/d=="]).await, "Malformed token");
}

// --- the length cap: refused before any decoding --------------------------------

#[tokio::test]
async fn default_cap_is_8_kib() {
    assert_eq!(DEFAULT_MAX_TOKEN_LEN, 8 * 1024);
}

#[tokio::test]
async fn token_over_the_default_cap_is_too_long() {
    // Not even a JWS: had it been decoded, the answer would be "Malformed token".
    let token = "a".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
    assert_invalid_token(&send_token(&token).await, TOO_LONG);
}

#[tokio::test]
async fn token_over_the_cap_with_bad_characters_is_too_long() {
    // The length is checked before the character set, i.e. before any scan.
    let token = "$".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
    assert_invalid_token(&send_token(&token).await, TOO_LONG);
}

#[tokio::test]
async fn validly_signed_token_over_the_default_cap_is_too_long() {
    let token = hs256(&payload_with(&format!(
        r#""pad":"{}""#,
        "x".repeat(DEFAULT_MAX_TOKEN_LEN)
    )));
    assert!(token.len() > DEFAULT_MAX_TOKEN_LEN);
    assert_invalid_token(&send_token(&token).await, TOO_LONG);
}

#[tokio::test]
async fn validly_signed_token_just_under_the_default_cap_is_accepted() {
    // Grow a padding claim until the token is as close to 8 KiB as it gets.
    let mut pad = 6000;
    let token = loop {
        let t = hs256(&payload_with(&format!(r#""pad":"{}""#, "x".repeat(pad))));
        if t.len() > DEFAULT_MAX_TOKEN_LEN {
            break hs256(&payload_with(&format!(
                r#""pad":"{}""#,
                "x".repeat(pad - 1)
            )));
        }
        pad += 1;
    };
    assert!(token.len() <= DEFAULT_MAX_TOKEN_LEN);
    assert!(token.len() > DEFAULT_MAX_TOKEN_LEN - 4);
    assert_ok(&send_token(&token).await);
}

#[tokio::test]
async fn configured_cap_refuses_a_longer_valid_token() {
    let token = valid_token();
    let validator = validator().max_token_len(token.len() - 1);
    let r = send(&AuthLayer::new(validator), with_bearer(&token)).await;
    assert_invalid_token(&r, TOO_LONG);
}

#[tokio::test]
async fn configured_cap_accepts_a_token_of_exactly_that_length() {
    let token = valid_token();
    let validator = validator().max_token_len(token.len());
    assert_ok(&send(&AuthLayer::new(validator), with_bearer(&token)).await);
}

#[tokio::test]
async fn configured_cap_is_checked_before_decoding() {
    let validator = validator().max_token_len(16);
    let r = send(&AuthLayer::new(validator), with_bearer(&"#".repeat(17))).await;
    assert_invalid_token(&r, TOO_LONG);
}

#[tokio::test]
async fn configured_cap_above_the_default_accepts_a_long_token() {
    let token = hs256(&payload_with(&format!(
        r#""pad":"{}""#,
        "x".repeat(DEFAULT_MAX_TOKEN_LEN)
    )));
    let validator = validator().max_token_len(32 * 1024);
    assert_ok(&send(&AuthLayer::new(validator), with_bearer(&token)).await);
}
