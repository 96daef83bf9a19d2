//! Request paths: one canonical form, matched and forwarded alike.
//!
//! The rule: **the path the rules are matched against and the path the
//! upstream receives are the same string, or the request is refused.**
//! [`normalize`] turns the request path into that string:
//!
//! 1. percent-decode once (RFC 3986 §2.1, §6.2.2), refusing invalid escapes;
//! 2. refuse what has no single meaning, so that no upstream can read the
//!    forwarded path another way: an encoded `/` or `\` (`%2F`, `%5C`), a
//!    backslash, NUL and control bytes, `;` path parameters (`;` and `%3B`),
//!    a double-encoded escape (`%25` followed by two hex digits), invalid or
//!    overlong UTF-8 (`%C0%AF`), and the full-width and look-alike forms of
//!    `/`, `\` and `.` that a Unicode fold (NFKC) turns into a separator or a
//!    dot (U+FF0F, U+FF3C, U+FF0E, U+2215, ...);
//! 3. refuse empty segments (`//`), or merge them when the operator allows
//!    it (Envoy's `merge_slashes`);
//! 4. remove dot-segments (§5.2.4), decoded ones (`%2e%2e`) included;
//! 5. re-encode every byte outside `pchar` (less `;`) in upper-case hex.
//!
//! The result is idempotent: `normalize(normalize(p)?) == normalize(p)`.

/// Why a request path cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (asterisk-form or authority-form).
    NotOrigin,
    /// The path has a malformed percent-encoding.
    BadEncoding,
    /// The path has `%2F` or `%5C`: a separator that is not one.
    EncodedSeparator,
    /// The path has a `\`.
    Backslash,
    /// The path has a NUL or another control byte, raw or encoded.
    ControlByte,
    /// The path has `;` (or `%3B`) path parameters.
    PathParameter,
    /// The decoded path has `%` followed by two hex digits (`%252f`): an
    /// escape that a second decoding would turn into another byte.
    DoubleEncoding,
    /// The decoded path is not valid UTF-8 (overlong forms included).
    InvalidUtf8,
    /// The path has a character that folds to `/`, `\` or `.`.
    LookAlike,
    /// The path has an empty segment (`//`).
    EmptySegment,
}

impl PathError {
    /// A short, fixed description for the client.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotOrigin => "The request target must be an absolute path",
            Self::BadEncoding => "The request path has a malformed percent-encoding",
            Self::EncodedSeparator => "The request path must not contain an encoded '/' or '\\'",
            Self::Backslash => "The request path must not contain '\\'",
            Self::ControlByte => "The request path must not contain control characters",
            Self::PathParameter => "The request path must not contain ';' path parameters",
            Self::DoubleEncoding => "The request path must not contain double percent-encoding",
            Self::InvalidUtf8 => "The request path is not valid UTF-8 once decoded",
            Self::LookAlike => "The request path must not contain look-alikes of '/', '\\' or '.'",
            Self::EmptySegment => "The request path must not contain empty segments ('//')",
        }
    }
}

/// How [`normalize`] treats what an operator may choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathPolicy {
    /// Merge empty segments (`//a` is `/a`) instead of refusing them.
    pub allow_empty_segments: bool,
}

/// The canonical form of the request path `path` (without the query), or why
/// it has none. See the module docs for the steps.
pub fn normalize(path: &str, policy: PathPolicy) -> Result<String, PathError> {
    let raw = path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotOrigin);
    }
    // 1–2: decode once, refusing what has no single meaning.
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex_val),
                raw.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err(PathError::BadEncoding);
            };
            let d = hi << 4 | lo;
            match d {
                b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                b';' => return Err(PathError::PathParameter),
                _ if d < 0x20 || d == 0x7f => return Err(PathError::ControlByte),
                _ => decoded.push(d),
            }
            i += 3;
        } else {
            match b {
                b'\\' => return Err(PathError::Backslash),
                b';' => return Err(PathError::PathParameter),
                _ if b < 0x20 || b == 0x7f => return Err(PathError::ControlByte),
                _ => decoded.push(b),
            }
            i += 1;
        }
    }
    // A `%` that, decoded, is followed by two hex digits would decode again
    // in an upstream that decodes twice (`%252f`, `%25%32%66`).
    if decoded
        .windows(3)
        .any(|w| w[0] == b'%' && hex_val(w[1]).is_some() && hex_val(w[2]).is_some())
    {
        return Err(PathError::DoubleEncoding);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::InvalidUtf8)?;
    if !decoded.is_ascii() && decoded.chars().any(folds_to_separator_or_dot) {
        return Err(PathError::LookAlike);
    }

    // 3–4: segments, with dot-segments removed (RFC 3986 §5.2.4) and empty
    // ones refused or merged. The leading `/` gives an empty first piece.
    let mut pieces = decoded.split('/').skip(1).peekable();
    let mut segments: Vec<&str> = Vec::new();
    // Whether the path ends in a directory (`/a/`, `/a/..`, `/a/.`).
    let mut trailing_slash = false;
    while let Some(segment) = pieces.next() {
        let last = pieces.peek().is_none();
        trailing_slash = false;
        match segment {
            "" if last => trailing_slash = true,
            "" => {
                if !policy.allow_empty_segments {
                    return Err(PathError::EmptySegment);
                }
            }
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            s => segments.push(s),
        }
    }

    // 5: re-encode.
    let mut out = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        out.push('/');
        encode_segment(segment, &mut out);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Appends `segment`, with every byte outside RFC 3986's `pchar` (and `;`,
/// which is refused on input) percent-encoded.
fn encode_segment(segment: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        let literal = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            );
        if literal {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// Characters whose compatibility decomposition (NFKC) contains `/`, `\` or
/// `.`, and the look-alikes of those that some upstreams fold to them.
fn folds_to_separator_or_dot(c: char) -> bool {
    matches!(
        c,
        // Slashes: fraction slash, division slash, big solidus, full-width.
        '\u{2044}' | '\u{2215}' | '\u{29F8}' | '\u{FF0F}'
        // Backslashes: set minus, reverse solidus operator, big reverse
        // solidus, small reverse solidus, full-width.
        | '\u{2216}' | '\u{29F5}' | '\u{29F9}' | '\u{FE68}' | '\u{FF3C}'
        // Dots: leaders, small and full-width full stops.
        | '\u{2024}' | '\u{2025}' | '\u{2026}' | '\u{FE52}' | '\u{FF0E}'
        // a/c, a/s, c/o, c/u: NFKC gives a `/`.
        | '\u{2100}' | '\u{2101}' | '\u{2105}' | '\u{2106}'
        // "1." to "20." and "0.": NFKC gives a `.`.
        | '\u{2488}'..='\u{249B}' | '\u{1F100}'
    )
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
pub fn covers(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize(p, PathPolicy::default())
    }

    #[test]
    fn escapes_are_decoded_once_and_re_encoded_canonically() {
        assert_eq!(norm("/%61dmin").unwrap(), "/admin");
        assert_eq!(norm("/plain").unwrap(), "/plain");
        assert_eq!(norm("/a%20b").unwrap(), "/a%20b");
        assert_eq!(norm("/a%3fb%23c").unwrap(), "/a%3Fb%23c");
        assert_eq!(norm("/100%25").unwrap(), "/100%25");
        assert_eq!(norm("/caf%C3%A9").unwrap(), "/caf%C3%A9");
        assert_eq!(norm("/a:b@c!$&'()*+,=").unwrap(), "/a:b@c!$&'()*+,=");
        assert_eq!(norm("/").unwrap(), "/");
        assert_eq!(norm("/a/").unwrap(), "/a/");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(norm("/a/../b").unwrap(), "/b");
        assert_eq!(norm("/a/./b").unwrap(), "/a/b");
        assert_eq!(norm("/..").unwrap(), "/");
        assert_eq!(norm("/../../x").unwrap(), "/x");
        assert_eq!(norm("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(norm("/a/%2E./b").unwrap(), "/b");
        assert_eq!(norm("/public/../items/secret").unwrap(), "/items/secret");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/.").unwrap(), "/a/");
        assert_eq!(norm("/a/..b/c.d").unwrap(), "/a/..b/c.d");
    }

    #[test]
    fn what_has_no_single_meaning_is_refused() {
        use PathError::*;
        let cases = [
            ("/public/..%2fitems/secret", EncodedSeparator),
            ("/public/%2e%2e%2fadmin/secret", EncodedSeparator),
            ("/items%2f42", EncodedSeparator),
            ("/x/..%2Fitems", EncodedSeparator),
            ("/public/..%5citems", EncodedSeparator),
            ("/public/..\\items", Backslash),
            ("/items\\", Backslash),
            ("/public/..;/items", PathParameter),
            ("/items;x", PathParameter),
            ("/items%3bx", PathParameter),
            ("//items", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a%00b", ControlByte),
            ("/a%0d%0aX: y", ControlByte),
            ("/a%7f", ControlByte),
            ("/a%2", BadEncoding),
            ("/a%zz", BadEncoding),
            ("/a%", BadEncoding),
            ("/a%252fb", DoubleEncoding),
            ("/a%252E%252E/b", DoubleEncoding),
            ("/a%25%32%66", DoubleEncoding),
            ("/a%c0%af", InvalidUtf8),
            ("/a%c0%ae%c0%ae/b", InvalidUtf8),
            ("/a%e0%80%af", InvalidUtf8),
            ("/a%ff", InvalidUtf8),
            ("/a%ef%bc%8fitems", LookAlike),          // U+FF0F
            ("/a%ef%bc%bcitems", LookAlike),          // U+FF3C
            ("/%ef%bc%8e%ef%bc%8e/items", LookAlike), // U+FF0E
            ("/a%e2%88%95b", LookAlike),              // U+2215
            ("/a%e2%80%a5/b", LookAlike),             // U+2025 (two dots)
            ("*", NotOrigin),
            ("", NotOrigin),
        ];
        for (path, want) in cases {
            assert_eq!(norm(path), Err(want), "{path}");
        }
    }

    #[test]
    fn a_lone_percent_that_is_not_an_escape_is_kept_encoded() {
        // `%25` then non-hex: one meaning under any number of decodings.
        assert_eq!(norm("/a%25zz").unwrap(), "/a%25zz");
    }

    #[test]
    fn empty_segments_can_be_merged() {
        let merge = PathPolicy {
            allow_empty_segments: true,
        };
        assert_eq!(normalize("//items", merge).unwrap(), "/items");
        assert_eq!(normalize("/a//b//", merge).unwrap(), "/a/b/");
        assert_eq!(normalize("/a%2f", merge), Err(PathError::EncodedSeparator));
    }

    #[test]
    fn normalization_is_idempotent() {
        for p in ["/a%20b", "/100%25", "/a/../b/", "/caf%C3%A9/%3F", "/x%25zz"] {
            let once = norm(p).unwrap();
            assert_eq!(norm(&once).unwrap(), once, "{p}");
        }
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
