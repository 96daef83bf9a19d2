//! Why remote keys could not be loaded.

use std::fmt;

use http::{StatusCode, Uri};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A remote key source could not be configured, or a fetch failed.
///
/// The message names the URL (scheme, host and path only) and the cause; it
/// never holds a response body or a token.
pub struct JwksError {
    kind: JwksErrorKind,
    url: Option<String>,
    detail: String,
    status: Option<StatusCode>,
    source: Option<BoxError>,
}

/// The class of a [`JwksError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwksErrorKind {
    /// An invalid setting: a bad URL, an `http` URL off loopback, a duration out of range.
    Config,
    /// The connection or the HTTP exchange failed.
    Transport,
    /// The fetch took longer than the fetch timeout.
    Timeout,
    /// The server answered with a status other than 200.
    Status,
    /// The response body was over the size limit.
    TooLarge,
    /// The body is not a JWK Set (or discovery document), or has no usable key.
    Malformed,
    /// The discovery document names another issuer, or no `jwks_uri`.
    Discovery,
}

impl JwksErrorKind {
    /// A short stable label, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Transport => "transport",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Discovery => "discovery",
        }
    }
}

impl JwksError {
    pub(crate) fn new(kind: JwksErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            url: None,
            detail: detail.into(),
            status: None,
            source: None,
        }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        Self::new(JwksErrorKind::Config, detail)
    }

    pub(crate) fn at(mut self, uri: &Uri) -> Self {
        self.url = Some(display_url(uri));
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn status_error(status: StatusCode) -> Self {
        let mut e = Self::new(
            JwksErrorKind::Status,
            format!("the server answered {status}"),
        );
        e.status = Some(status);
        e
    }

    /// The class of the error.
    pub fn kind(&self) -> JwksErrorKind {
        self.kind
    }

    /// The HTTP status, for [`JwksErrorKind::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The URL that was fetched, without its query.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

/// A URL for messages: scheme, host and path (no user info, no query).
pub(crate) fn display_url(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{host}{port}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.path()
    )
}

impl fmt::Debug for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksError")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{url}: {}", self.detail)?,
            None => f.write_str(&self.detail)?,
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
