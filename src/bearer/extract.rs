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
pub(crate) fn bearer_token(
    headers: &HeaderMap,
    max_len: usize,
) -> Result<Option<&[u8]>, AuthError> {
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
        // No credentials at all (FastAPI: `if not authorization`), RFC 6750 §3.1.
        return Ok(None);
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
    // The b64token character set is checked only when validation fails (see
    // `explain`): a valid JWS is always a b64token, and the check costs a pass over
    // the token on the request path.
    Ok(Some(token))
}

fn not_b64token() -> AuthError {
    AuthError::invalid_token("The bearer token has characters outside the b64token set")
}

/// Refines a validation error for a token outside the b64token set, so that the
/// client learns its header is malformed rather than its signature wrong.
pub(crate) fn explain(token: &[u8], error: AuthError) -> AuthError {
    if is_b64token(token) {
        error
    } else {
        not_b64token()
    }
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
    body_end > 0 && t[..body_end].iter().all(|&b| B64TOKEN[b as usize])
}

/// The b64token characters other than `=`, as a lookup table.
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn run(values: &[&[u8]]) -> Result<Option<String>, AuthError> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).expect("header"));
        }
        bearer_token(&h, 64).map(|t| t.map(|t| String::from_utf8_lossy(t).into_owned()))
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
        assert!(is_b64token(b"abc=="));
        assert!(is_b64token(b"a-b.c_d~e+f/g"));
        assert!(!is_b64token(b"a=bc"));
        assert!(!is_b64token(b"==="));
        assert!(!is_b64token(b"a b"));
        assert!(!is_b64token(b"a\xc3\xa9"));
    }

    #[test]
    fn failed_validation_of_a_non_b64token_is_explained() {
        let e = explain(b"a!b", AuthError::invalid_token("Malformed token"));
        assert_eq!(
            e.description(),
            "The bearer token has characters outside the b64token set"
        );
        let e = explain(b"a.b.c", AuthError::invalid_token("Invalid signature"));
        assert_eq!(e.description(), "Invalid signature");
    }

    #[test]
    fn non_utf8_is_explained_as_outside_b64token() {
        // Extraction hands the bytes on; validation fails on them and `explain`
        // names the cause.
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer ab\xffcd").unwrap(),
        );
        let token = bearer_token(&h, 64).unwrap().unwrap();
        let e = explain(token, AuthError::invalid_token("Malformed token"));
        assert_eq!(e.kind(), crate::AuthErrorKind::InvalidToken);
        assert_eq!(
            e.description(),
            "The bearer token has characters outside the b64token set"
        );
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
