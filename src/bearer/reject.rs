//! Turning an [`AuthError`] into a response.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

use crate::{AuthError, AuthErrorKind, ConfigError};

/// How rejections (and the token endpoint's answers) are worded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Style {
    /// RFC 6749 / RFC 6750: `{"error": "...", "error_description": "..."}` bodies,
    /// `WWW-Authenticate: Bearer realm="...", error="..."` challenges, 403 for a
    /// missing scope.
    #[default]
    Standards,
    /// Exactly what the FastAPI tutorial answers, for drop-in replacement of a
    /// FastAPI backend: `{"detail": "..."}` bodies, a bare `WWW-Authenticate: Bearer`
    /// (or `Bearer scope="..."` on scoped routes), 400 `Inactive user`, and 401
    /// `Not enough permissions`.
    FastApi,
}

impl std::str::FromStr for Style {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standards" => Ok(Self::Standards),
            "fastapi" => Ok(Self::FastApi),
            _ => Err(ConfigError::Invalid(format!(
                "unknown style {s:?}: expected `standards` or `fastapi`"
            ))),
        }
    }
}

/// What a rejection renderer may look at in the refused request.
#[derive(Debug)]
pub struct RejectContext<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl<'a> RejectContext<'a> {
    /// A context for a request's parts.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request URI. It may carry secrets in its query: do not echo it.
    pub fn uri(&self) -> &Uri {
        self.uri
    }

    /// The request headers. `Authorization` is among them: never echo it.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// Whether the request is gRPC (`content-type: application/grpc...`).
    pub fn is_grpc(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
    }
}

/// Renders a rejection. Replace the default with
/// [`AuthLayer::reject_with`](crate::AuthLayer::reject_with).
///
/// It is implemented for closures `Fn(&AuthError, &RejectContext<'_>) -> Response<Bytes>`.
pub trait Reject {
    /// The response for `error`.
    fn reject(&self, error: &AuthError, request: &RejectContext<'_>) -> Response<Bytes>;
}

impl<F> Reject for F
where
    F: Fn(&AuthError, &RejectContext<'_>) -> Response<Bytes>,
{
    fn reject(&self, error: &AuthError, request: &RejectContext<'_>) -> Response<Bytes> {
        self(error, request)
    }
}

/// The default rejections, in the configured [`Style`] and realm.
///
/// gRPC requests (`content-type: application/grpc...`) are answered as gRPC in
/// either style: HTTP 200 with `grpc-status` 16 (`UNAUTHENTICATED`), or 7
/// (`PERMISSION_DENIED`) for a missing scope, and a `grpc-message`.
#[derive(Clone)]
pub struct DefaultRejection {
    style: Style,
    realm: Arc<str>,
}

impl fmt::Debug for DefaultRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultRejection")
            .field("style", &self.style)
            .field("realm", &self.realm)
            .finish()
    }
}

impl Default for DefaultRejection {
    fn default() -> Self {
        Self {
            style: Style::Standards,
            realm: Arc::from("api"),
        }
    }
}

impl DefaultRejection {
    /// The default rejections: standards style, realm `api`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the style.
    #[must_use]
    pub fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// Sets the realm of the challenge.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRealm`] unless `realm` is printable ASCII without `"` and `\`.
    pub fn realm(mut self, realm: &str) -> Result<Self, ConfigError> {
        if !realm.bytes().all(is_qdtext) {
            return Err(ConfigError::InvalidRealm);
        }
        self.realm = Arc::from(realm);
        Ok(self)
    }

    /// The configured style.
    pub fn current_style(&self) -> Style {
        self.style
    }

    /// The challenge for `error` in this configuration, if it gets one.
    pub fn challenge(&self, error: &AuthError) -> Option<HeaderValue> {
        let value = match self.style {
            Style::Standards => {
                let mut v = format!("Bearer realm=\"{}\"", self.realm);
                match error.kind().error_code() {
                    Some(code) => {
                        v.push_str(&format!(
                            ", error=\"{code}\", error_description=\"{}\"",
                            error.description()
                        ));
                        if let Some(scope) = error.scope() {
                            v.push_str(&format!(", scope=\"{scope}\""));
                        }
                    }
                    None if error.kind() == AuthErrorKind::Unavailable => return None,
                    None => {}
                }
                v
            }
            Style::FastApi => match (error.kind(), error.scope()) {
                (AuthErrorKind::InactiveUser | AuthErrorKind::Unavailable, _) => return None,
                (AuthErrorKind::MissingCredentials, _) | (_, None) => "Bearer".to_owned(),
                (_, Some(scope)) => format!("Bearer scope=\"{scope}\""),
            },
        };
        HeaderValue::from_str(&value).ok()
    }

    fn grpc(&self, error: &AuthError) -> Response<Bytes> {
        let (code, message) = match error.kind() {
            AuthErrorKind::InsufficientScope => ("7", error.description()),
            AuthErrorKind::Unavailable => ("14", error.description()),
            _ => ("16", error.description()),
        };
        let mut res = Response::new(Bytes::new());
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert("grpc-status", HeaderValue::from_static(code));
        // The descriptions are fixed printable ASCII without '%' (grpc-message is
        // percent-encoded; no character here needs it).
        if let Ok(v) = HeaderValue::from_str(message) {
            h.insert("grpc-message", v);
        }
        if let Some(c) = self.challenge(error) {
            h.insert(WWW_AUTHENTICATE, c);
        }
        res
    }
}

impl Reject for DefaultRejection {
    fn reject(&self, error: &AuthError, request: &RejectContext<'_>) -> Response<Bytes> {
        if request.is_grpc() {
            return self.grpc(error);
        }
        let (status, body) = match self.style {
            Style::Standards => {
                let code = match error.kind() {
                    AuthErrorKind::MissingCredentials => "unauthorized",
                    AuthErrorKind::Unavailable => "temporarily_unavailable",
                    kind => kind.error_code().unwrap_or("invalid_token"),
                };
                let body = serde_json::json!({
                    "error": code,
                    "error_description": error.description(),
                });
                (error.status(), body)
            }
            Style::FastApi => {
                let (status, detail) = match error.kind() {
                    AuthErrorKind::MissingCredentials => {
                        (StatusCode::UNAUTHORIZED, "Not authenticated")
                    }
                    AuthErrorKind::InactiveUser => (StatusCode::BAD_REQUEST, "Inactive user"),
                    AuthErrorKind::InsufficientScope => {
                        (StatusCode::UNAUTHORIZED, "Not enough permissions")
                    }
                    AuthErrorKind::Unavailable => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                    }
                    _ => (StatusCode::UNAUTHORIZED, "Could not validate credentials"),
                };
                (status, serde_json::json!({ "detail": detail }))
            }
        };
        let mut res = Response::new(Bytes::from(body.to_string()));
        *res.status_mut() = status;
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(c) = self.challenge(error) {
            h.insert(WWW_AUTHENTICATE, c);
        }
        res
    }
}

/// `qdtext` without obs-text, and also without `"` and `\` (RFC 6750 §3).
fn is_qdtext(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Whether `s` is a valid RFC 6749 §3.3 `scope-token`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}
