//! Request paths: normalization for matching, and prefix rules.
//!
//! Prefix rules (`--public`, `--require-scope`) are matched against the path
//! with percent-encoded *unreserved* characters decoded (RFC 3986 §6.2.2.2), so
//! that `/%61dmin` cannot dodge a rule for `/admin`: the upstream would see the
//! same resource. Paths with dot-segments (`/a/../b`, also `%2e%2e`) are refused
//! before any rule is looked up, since the upstream could resolve them to a
//! path that another rule guards.

use std::borrow::Cow;

/// Why a request path cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// The path does not start with `/` (asterisk-form or authority-form).
    NotOrigin,
    /// The path has a `.` or `..` segment.
    DotSegment,
    /// The path has a malformed percent-encoding.
    BadEncoding,
}

impl PathError {
    /// A short, fixed description for the client.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::NotOrigin => "The request target must be an absolute path",
            Self::DotSegment => "The request path must not contain dot-segments",
            Self::BadEncoding => "The request path has a malformed percent-encoding",
        }
    }
}

/// `path` with percent-encoded unreserved characters decoded, after checks.
///
/// Other escapes (`%2F`, `%20`, ...) are kept as they are, in upper case.
pub(crate) fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotOrigin);
    }
    let normalized: Cow<'_, str> = if path.contains('%') {
        let bytes = path.as_bytes();
        let mut out = String::with_capacity(path.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEncoding)?;
                let hi = hex_val(hex[0]).ok_or(PathError::BadEncoding)?;
                let lo = hex_val(hex[1]).ok_or(PathError::BadEncoding)?;
                let b = hi << 4 | lo;
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(b as char);
                } else {
                    out.push('%');
                    out.push(hex[0].to_ascii_uppercase() as char);
                    out.push(hex[1].to_ascii_uppercase() as char);
                }
                i += 3;
            } else {
                // The path of an `http::Uri` is ASCII.
                out.push(bytes[i] as char);
                i += 1;
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(path)
    };
    if normalized
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(PathError::DotSegment);
    }
    Ok(normalized)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `prefix` covers `path`, on segment boundaries: `/api` covers `/api`,
/// `/api/` and `/api/x` but not `/apix`; `/` covers everything.
pub(crate) fn covers(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(normalize("/%61dmin").unwrap(), "/admin");
        assert_eq!(normalize("/a%2fb").unwrap(), "/a%2Fb");
        assert_eq!(normalize("/plain").unwrap(), "/plain");
    }

    #[test]
    fn dot_segments_are_refused() {
        for p in ["/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E./b"] {
            assert_eq!(normalize(p), Err(PathError::DotSegment), "{p}");
        }
        assert!(normalize("/a/..b/c.d").is_ok());
    }

    #[test]
    fn bad_escapes_are_refused() {
        assert_eq!(normalize("/a%2"), Err(PathError::BadEncoding));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEncoding));
        assert_eq!(normalize("*"), Err(PathError::NotOrigin));
    }

    #[test]
    fn prefixes_match_on_segments() {
        assert!(covers("/", "/anything"));
        assert!(covers("/api", "/api"));
        assert!(covers("/api", "/api/x"));
        assert!(!covers("/api", "/apix"));
        assert!(covers("/api/", "/api/x"));
        assert!(!covers("/api/", "/api"));
    }
}
