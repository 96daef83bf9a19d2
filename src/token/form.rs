//! Strict `application/x-www-form-urlencoded` parsing for the token request
//! (RFC 6749 §3.2, §4.3.2, Appendix B).
//!
//! `form_urlencoded::parse` is lenient on purpose (it keeps a bad `%` escape
//! as-is and replaces invalid UTF-8 with U+FFFD), which would let two different
//! bodies log in with the same password; RFC 6749 Appendix B wants the octets
//! decoded as UTF-8, so this parser refuses both.

use std::fmt;

/// Why a token request is refused before any credential is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FormError {
    /// 400 `invalid_request`, with a fixed description.
    InvalidRequest(&'static str),
    /// 400 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// 400 `invalid_scope`.
    InvalidScope,
}

/// The password, which never prints.
pub(crate) struct Password(pub(crate) String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A parsed token request.
#[derive(Debug)]
pub(crate) struct TokenRequest {
    pub(crate) username: String,
    pub(crate) password: Password,
    /// The requested scopes, in order, without duplicates.
    pub(crate) scopes: Vec<String>,
}

/// Limits and leniency for [`parse`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct FormRules {
    pub(crate) max_username_len: usize,
    pub(crate) max_password_len: usize,
    /// FastAPI's `OAuth2PasswordRequestForm`: `grant_type` may be absent and the
    /// scope string is split on any run of whitespace.
    pub(crate) lenient: bool,
}

/// The fields the endpoint reads; others are ignored (RFC 6749 §3.2).
#[derive(Default)]
struct Fields {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub(crate) fn parse(body: &[u8], rules: FormRules) -> Result<TokenRequest, FormError> {
    let mut f = Fields::default();
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(name)?;
        let value = decode(value)?;
        let (slot, repeated) = match name.as_str() {
            "grant_type" => (&mut f.grant_type, "Repeated parameter: grant_type"),
            "username" => (&mut f.username, "Repeated parameter: username"),
            "password" => (&mut f.password, "Repeated parameter: password"),
            "scope" => (&mut f.scope, "Repeated parameter: scope"),
            "client_id" => (&mut f.client_id, "Repeated parameter: client_id"),
            "client_secret" => (&mut f.client_secret, "Repeated parameter: client_secret"),
            _ => continue,
        };
        if value.contains(['\r', '\n']) {
            return Err(FormError::InvalidRequest("Line break in a parameter value"));
        }
        // RFC 6749 §3.2: a parameter without a value is treated as omitted.
        if value.is_empty() {
            continue;
        }
        if slot.is_some() {
            return Err(FormError::InvalidRequest(repeated));
        }
        *slot = Some(value);
    }

    match f.grant_type.as_deref() {
        Some("password") => {}
        Some(_) => return Err(FormError::UnsupportedGrantType),
        None if rules.lenient => {}
        None => return Err(FormError::InvalidRequest("Missing parameter: grant_type")),
    }
    let username = f
        .username
        .ok_or(FormError::InvalidRequest("Missing parameter: username"))?;
    let password = Password(
        f.password
            .ok_or(FormError::InvalidRequest("Missing parameter: password"))?,
    );
    if username.len() > rules.max_username_len {
        return Err(FormError::InvalidRequest("Username too long"));
    }
    if password.0.len() > rules.max_password_len {
        return Err(FormError::InvalidRequest("Password too long"));
    }
    let scopes = match f.scope {
        Some(s) => parse_scope(&s, rules.lenient)?,
        None => Vec::new(),
    };
    Ok(TokenRequest {
        username,
        password,
        scopes,
    })
}

/// `scope = scope-token *( SP scope-token )` (RFC 6749 §3.3); leniently, any
/// run of whitespace separates (Python's `str.split()`).
fn parse_scope(s: &str, lenient: bool) -> Result<Vec<String>, FormError> {
    let tokens: Vec<&str> = if lenient {
        s.split_ascii_whitespace().collect()
    } else {
        s.split(' ').collect()
    };
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if !is_scope_token(t) {
            return Err(FormError::InvalidScope);
        }
        if !out.iter().any(|x| x == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// Decodes one name or value: `+` is a space, `%XX` a byte; anything else after
/// `%` and invalid UTF-8 are refused.
fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex);
                let lo = raw.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(FormError::InvalidRequest(
                        "Invalid percent-encoding in the request body",
                    ));
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| FormError::InvalidRequest("The request body is not valid UTF-8"))
}

/// Whether `s` is an RFC 6749 §3.3 `scope-token`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: FormRules = FormRules {
        max_username_len: 256,
        max_password_len: 1024,
        lenient: false,
    };

    fn ok(body: &str) -> TokenRequest {
        parse(body.as_bytes(), RULES).unwrap()
    }

    fn err(body: &[u8]) -> FormError {
        parse(body, RULES).unwrap_err()
    }

    #[test]
    fn decodes_plus_and_percent() {
        let r =
            ok("grant_type=password&username=john+doe&password=p%40ss%20w%C3%B6rd&scope=me+items");
        assert_eq!(r.username, "john doe");
        assert_eq!(r.password.0, "p@ss wörd");
        assert_eq!(r.scopes, ["me", "items"]);
    }

    #[test]
    fn nul_in_password_is_kept() {
        assert_eq!(
            ok("grant_type=password&username=a&password=x%00y")
                .password
                .0,
            "x\0y"
        );
    }

    #[test]
    fn refuses_bad_escapes_and_utf8() {
        for body in [
            &b"grant_type=password&username=a&password=%zz"[..],
            b"username=%4",
            b"password=%",
        ] {
            assert_eq!(
                err(body),
                FormError::InvalidRequest("Invalid percent-encoding in the request body")
            );
        }
        assert_eq!(
            err(b"grant_type=password&username=a&password=%C3%28"),
            FormError::InvalidRequest("The request body is not valid UTF-8")
        );
        assert_eq!(
            err(b"grant_type=password&username=a&password=\xff"),
            FormError::InvalidRequest("The request body is not valid UTF-8")
        );
    }

    #[test]
    fn empty_value_is_omitted_and_unknown_ignored() {
        let r = ok("grant_type=password&username=a&username=&password=b&foo=bar&foo=baz&&");
        assert_eq!(r.username, "a");
        assert_eq!(
            err(b"grant_type=password&username=&password=b"),
            FormError::InvalidRequest("Missing parameter: username")
        );
    }

    #[test]
    fn scope_grammar() {
        assert_eq!(
            err(b"grant_type=password&username=a&password=b&scope=me++items"),
            FormError::InvalidScope
        );
        assert_eq!(
            err(b"grant_type=password&username=a&password=b&scope=me%22"),
            FormError::InvalidScope
        );
        assert_eq!(
            err(b"grant_type=password&username=a&password=b&scope=+me"),
            FormError::InvalidScope
        );
        let lenient = FormRules {
            lenient: true,
            ..RULES
        };
        let r = parse(b"username=a&password=b&scope=+me++items+me", lenient).unwrap();
        assert_eq!(r.scopes, ["me", "items"]);
    }

    #[test]
    fn grant_type_rules() {
        assert_eq!(
            err(b"grant_type=Password&username=a&password=b"),
            FormError::UnsupportedGrantType
        );
        assert_eq!(
            err(b"grant_type=client_credentials"),
            FormError::UnsupportedGrantType
        );
        assert_eq!(
            err(b"username=a&password=b"),
            FormError::InvalidRequest("Missing parameter: grant_type")
        );
        let lenient = FormRules {
            lenient: true,
            ..RULES
        };
        assert!(parse(b"username=a&password=b", lenient).is_ok());
    }

    #[test]
    fn debug_hides_password() {
        let r = ok("grant_type=password&username=a&password=hunter2");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
