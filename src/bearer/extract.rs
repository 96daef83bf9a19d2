//! Reading `Authorization: Bearer <token>` (RFC 6750 §2.1, RFC 9110 §11).

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::AuthError;

/// The bearer token of a request, or `None` when the request carries no
/// bearer credentials at all (no `Authorization`, or another scheme).
///
/// - the scheme is matched case-insensitively (RFC 9110 §11.1);
/// - one or more spaces separate it from the token (`1*SP`); a tab is refused;
/// - the token must be a `b64token` and at most `max_len` bytes, checked before
///   any decoding;
/// - several `Authorization` field lines are refused (RFC 9110 §5.3).
pub(crate) fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::invalid_request(
            "Several Authorization header fields",
        ));
    }
    let bytes = value.as_bytes();
    // RFC 9110 §5.5: a field value excludes leading and trailing whitespace.
    let bytes = trim_ows(bytes);
    if bytes.is_empty() {
        return Err(AuthError::invalid_request("Empty Authorization header"));
    }
    let scheme_end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        // Another scheme (Basic, Digest, ...): no bearer credentials (RFC 6750 §3.1).
        return Ok(None);
    }
    let rest = &bytes[scheme_end..];
    if rest.is_empty() {
        return Err(AuthError::invalid_request("Empty bearer token"));
    }
    let token_start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    if rest.get(token_start) == Some(&b'\t') {
        return Err(AuthError::invalid_request(
            "The bearer token must follow the scheme after a space, not a tab",
        ));
    }
    let token = &rest[token_start..];
    if token.is_empty() {
        return Err(AuthError::invalid_request("Empty bearer token"));
    }
    if token.len() > max_len {
        return Err(AuthError::invalid_token("Token too long"));
    }
    if !is_b64token(token) {
        return Err(AuthError::invalid_token(
            "The bearer token has characters outside the b64token set",
        ));
    }
    // b64token is ASCII, so this cannot fail.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::invalid_token("Malformed token"))
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(t: &[u8]) -> bool {
    let body_end = t.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    body_end > 0
        && t[..body_end].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn run(values: &[&[u8]]) -> Result<Option<String>, AuthError> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).expect("header"));
        }
        bearer_token(&h, 64).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for s in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let v = format!("{s} abc.def.ghi");
            assert_eq!(
                run(&[v.as_bytes()]).unwrap().as_deref(),
                Some("abc.def.ghi")
            );
        }
    }

    #[test]
    fn several_spaces_are_accepted() {
        assert_eq!(run(&[b"Bearer    abc"]).unwrap().as_deref(), Some("abc"));
    }

    #[test]
    fn tab_separator_is_invalid_request() {
        let e = run(&[b"Bearer\tabc"]).unwrap_err();
        assert_eq!(e.kind(), crate::AuthErrorKind::InvalidRequest);
        let e = run(&[b"Bearer \tabc"]).unwrap_err();
        assert_eq!(e.kind(), crate::AuthErrorKind::InvalidRequest);
    }

    #[test]
    fn other_scheme_is_no_credentials() {
        assert_eq!(run(&[b"Basic dXNlcjpwYXNz"]).unwrap(), None);
        assert_eq!(run(&[b"Bearerx abc"]).unwrap(), None);
        assert_eq!(run(&[]).unwrap(), None);
    }

    #[test]
    fn padding_is_allowed_only_at_the_end() {
        assert!(run(&[b"Bearer abc=="]).unwrap().is_some());
        assert!(run(&[b"Bearer a=bc"]).is_err());
        assert!(run(&[b"Bearer ==="]).is_err());
    }

    #[test]
    fn too_long_is_invalid_token() {
        let v = format!("Bearer {}", "a".repeat(65));
        assert_eq!(
            run(&[v.as_bytes()]).unwrap_err().description(),
            "Token too long"
        );
    }
}
