//! The users behind the gateway: who a token names, and the `POST /token`
//! endpoint that issues tokens.
//!
//! The rest of the gateway sees only [`Directory`] (resolve a validated token's
//! subject) and [`TokenService`] (a boxed tower service): this module is the
//! one place that knows about the users store.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use serde::Serialize;
use tower::util::BoxCloneSyncService;
use tower_jwt_auth::{AuthError, Claims, Resolution, ResolveUser};

use super::config::{Config, SettingError};

/// A boxed error, for response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of every gateway answer.
pub(crate) type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// The token endpoint, type-erased.
pub(crate) type TokenService =
    BoxCloneSyncService<Request<Incoming>, Response<GatewayBody>, Infallible>;

/// A user, as `GET /users/me/` shows it (the FastAPI tutorial's `User` model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Profile {
    /// The login name, the tokens' `sub`.
    pub(crate) username: String,
    /// E-mail address.
    pub(crate) email: Option<String>,
    /// Full name.
    pub(crate) full_name: Option<String>,
    /// A disabled user gets no token and is refused by the layer.
    pub(crate) disabled: bool,
}

/// Who a validated token names.
pub(crate) trait Directory: Send + Sync + 'static {
    /// The user named by `claims`.
    ///
    /// # Errors
    ///
    /// [`AuthError::unknown_user`] when it does not exist,
    /// [`AuthError::inactive_user`] when it is disabled.
    fn resolve(&self, claims: &Claims) -> Result<Arc<Profile>, AuthError>;
}

/// The [`ResolveUser`] of the gateway's `AuthLayer`: a synchronous lookup in
/// the [`Directory`].
#[derive(Clone)]
pub(crate) struct DirectoryResolver(pub(crate) Arc<dyn Directory>);

impl std::fmt::Debug for DirectoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectoryResolver")
    }
}

impl ResolveUser<Claims> for DirectoryResolver {
    type User = Arc<Profile>;
    type Future = Ready<Result<Arc<Profile>, AuthError>>;

    fn resolve(&mut self, claims: &Claims) -> Resolution<Self::User, Self::Future> {
        Resolution::Ready(self.0.resolve(claims))
    }
}

/// The users side of a configured gateway.
pub(crate) struct Identity {
    /// Resolves token subjects.
    pub(crate) directory: Arc<dyn Directory>,
    /// `POST /token`, when the gateway issues tokens.
    pub(crate) token: Option<TokenService>,
    /// Whether the built-in demo users are in use.
    pub(crate) demo: bool,
}

/// Until a users store is wired in: every validated subject is a user.
struct AnySubject;

impl Directory for AnySubject {
    fn resolve(&self, claims: &Claims) -> Result<Arc<Profile>, AuthError> {
        let username = claims.sub().ok_or_else(AuthError::unknown_user)?;
        Ok(Arc::new(Profile {
            username: username.to_owned(),
            email: None,
            full_name: None,
            disabled: false,
        }))
    }
}

/// Loads the users named by `config` (or the built-in demo users) and builds
/// the token endpoint.
///
/// # Errors
///
/// A [`SettingError`] for `--users` when the file cannot be loaded.
pub(crate) fn load(config: &Config) -> Result<Identity, SettingError> {
    let _ = config;
    Ok(Identity {
        directory: Arc::new(AnySubject),
        token: None,
        demo: true,
    })
}
