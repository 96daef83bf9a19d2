//! Why a request was refused.

use std::fmt;
use std::sync::Arc;

/// The class of an authentication failure.
///
/// Each kind maps to one RFC 6750 §3.1 outcome; see [`AuthError::status`]. The
/// finer reason is in [`AuthError::description`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No `Authorization` header, or a scheme other than `Bearer`
    /// (RFC 6750 §3.1: "the request lacks any authentication information").
    /// 401 with a challenge that carries no `error`.
    MissingCredentials,
    /// The request is malformed: an empty bearer token, a tab as separator,
    /// several `Authorization` field lines. 400 `invalid_request`.
    InvalidRequest,
    /// The token is malformed, expired, not yet valid, wrongly signed, for
    /// another issuer or audience, or names a user that does not exist.
    /// 401 `invalid_token`.
    InvalidToken,
    /// The token is valid and the user exists, but the user is disabled.
    /// Standards style: 401 `invalid_token`; FastAPI style: 400 `Inactive user`.
    InactiveUser,
    /// The token lacks a scope that the route requires. 403 `insufficient_scope`.
    InsufficientScope,
    /// The user could not be resolved because a backing service failed
    /// (a database is down, keys could not be loaded). 503.
    Unavailable,
}

impl AuthErrorKind {
    /// The RFC 6750 `error` code for this kind, if it has one.
    ///
    /// [`MissingCredentials`](Self::MissingCredentials) has none (RFC 6750 §3.1), nor
    /// has [`Unavailable`](Self::Unavailable).
    pub const fn error_code(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials | Self::Unavailable => None,
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken | Self::InactiveUser => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
        }
    }

    /// A short stable label, for metrics and logs (`missing`, `invalid_request`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InactiveUser => "inactive_user",
            Self::InsufficientScope => "insufficient_scope",
            Self::Unavailable => "unavailable",
        }
    }
}

/// An authentication or authorization failure.
///
/// It carries a [kind](AuthErrorKind) and a fixed, human-readable description
/// that never contains any part of the token or of its claims, so it is safe to
/// log and to send in `error_description` (RFC 6750 §3 character set).
///
/// The [`AuthLayer`](crate::AuthLayer) turns it into a response and also puts a
/// copy in the response extensions, so outer layers (metrics, logging) can read
/// why a request was refused.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: &'static str,
    scope: Option<Arc<str>>,
}

impl AuthError {
    /// A new error of `kind`.
    ///
    /// `description` must be a fixed string in the RFC 6750 §3 character set
    /// (printable ASCII without `"` and `\`); it is sent to the client.
    ///
    /// # Panics
    ///
    /// In debug builds, if `description` has a character outside that set.
    pub fn new(kind: AuthErrorKind, description: &'static str) -> Self {
        debug_assert!(
            description
                .bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            "error_description outside the RFC 6750 character set"
        );
        Self {
            kind,
            description,
            scope: None,
        }
    }

    /// No credentials were presented.
    pub fn missing_credentials() -> Self {
        Self::new(AuthErrorKind::MissingCredentials, "No bearer token")
    }

    /// The token is invalid; `description` says why (a fixed string).
    pub fn invalid_token(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidToken, description)
    }

    /// The token names a user that does not exist. Use it from a
    /// [`ResolveUser`](crate::ResolveUser) implementation.
    pub fn unknown_user() -> Self {
        Self::new(AuthErrorKind::InvalidToken, "Unknown user")
    }

    /// The user exists but is disabled. Use it from a
    /// [`ResolveUser`](crate::ResolveUser) implementation.
    pub fn inactive_user() -> Self {
        Self::new(AuthErrorKind::InactiveUser, "Inactive user")
    }

    /// A backing service needed to authenticate the request failed.
    pub fn unavailable(description: &'static str) -> Self {
        Self::new(AuthErrorKind::Unavailable, description)
    }

    /// The token lacks `required`, the space-separated scopes of the route.
    pub fn insufficient_scope(required: Arc<str>) -> Self {
        Self::new(
            AuthErrorKind::InsufficientScope,
            "The access token lacks a required scope",
        )
        .with_scope(required)
    }

    pub(crate) fn invalid_request(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidRequest, description)
    }

    /// Attaches the space-separated scopes the route requires, for the `scope`
    /// parameter of the challenge.
    pub fn with_scope(mut self, scope: Arc<str>) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// A fixed description of the failure, safe to log and to send.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The scopes the route requires, space-separated, when known.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The HTTP status of the default (standards) response for this error.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self.kind {
            AuthErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            AuthErrorKind::InsufficientScope => StatusCode::FORBIDDEN,
            AuthErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthErrorKind::MissingCredentials
            | AuthErrorKind::InvalidToken
            | AuthErrorKind::InactiveUser => StatusCode::UNAUTHORIZED,
        }
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AuthError");
        d.field("kind", &self.kind)
            .field("description", &self.description);
        if let Some(scope) = &self.scope {
            d.field("scope", scope);
        }
        d.finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.description)
    }
}

impl std::error::Error for AuthError {}

/// An invalid configuration value, reported when a layer, key or validator is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An HMAC secret is shorter than the hash output (RFC 7518 §3.2).
    HmacKeyTooShort {
        /// The algorithm the key is for.
        algorithm: crate::Algorithm,
        /// The minimum length in bytes.
        min: usize,
        /// The length given.
        len: usize,
    },
    /// The key could not be parsed for the algorithm it was given.
    InvalidKey {
        /// The algorithm the key is for.
        algorithm: crate::Algorithm,
        /// What was wrong (never the key material).
        reason: String,
    },
    /// The algorithm does not fit the kind of key (an RSA algorithm for an EC key, ...).
    AlgorithmMismatch {
        /// The algorithm asked for.
        algorithm: crate::Algorithm,
        /// The kind of key given.
        key: &'static str,
    },
    /// Two keys share a `kid`.
    DuplicateKid(String),
    /// No key was given.
    NoKeys,
    /// The leeway is over the 300 s cap.
    LeewayTooLarge(u64),
    /// The realm has a character that cannot appear in a quoted challenge parameter.
    InvalidRealm,
    /// A scope is empty or has a character outside RFC 6749 §3.3's `scope-token`.
    InvalidScope(String),
    /// Any other invalid value; the message names the setting.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HmacKeyTooShort {
                algorithm,
                min,
                len,
            } => write!(
                f,
                "the {algorithm:?} secret is {len} bytes; at least {min} are required (RFC 7518 §3.2); \
                 generate one with `openssl rand -hex 32`"
            ),
            Self::InvalidKey { algorithm, reason } => {
                write!(f, "invalid key for {algorithm:?}: {reason}")
            }
            Self::AlgorithmMismatch { algorithm, key } => {
                write!(f, "algorithm {algorithm:?} cannot be used with {key} key")
            }
            Self::DuplicateKid(kid) => write!(f, "two keys have the kid {kid:?}"),
            Self::NoKeys => f.write_str("no verification key was configured"),
            Self::LeewayTooLarge(s) => {
                write!(f, "leeway of {s} s is over the maximum of 300 s")
            }
            Self::InvalidRealm => f.write_str(
                "the realm must be printable ASCII without '\"' or '\\' (RFC 6750 §3)",
            ),
            Self::InvalidScope(s) => write!(
                f,
                "invalid scope {s:?}: a scope is one or more printable ASCII characters \
                 other than space, '\"' and '\\' (RFC 6749 §3.3)"
            ),
            Self::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ConfigError {}
