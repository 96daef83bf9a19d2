//! The users behind the gateway: who a token names, and the `POST /token`
//! endpoint that issues tokens.
//!
//! The rest of the gateway sees only [`Directory`] (resolve a validated token's
//! subject) and [`TokenService`] (a boxed tower service): this module is the
//! one place that knows about the users store.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::Full;
use tower::util::BoxCloneSyncService;
use tower_jwt_auth::{AuthError, Claims, Resolution, ResolveUser};

use tower::ServiceExt;
use tower_jwt_auth::token::{TokenEndpoint, TokenSigner, UserProfile, UsersFile, UsersFileFormat};

use super::config::{self, Config, SettingError};
use super::proxy::ClientAddr;
use super::server::boxed;

/// A boxed error, for response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of every gateway answer.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// The token endpoint, type-erased.
pub type TokenService =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<GatewayBody>, Infallible>;

/// A user that a token names.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile as the store has it; `GET /users/me/` shows it.
    pub user: UserProfile,
    /// The username as the `X-Auth-Subject` value, made once; `None` if it
    /// cannot be a header value.
    pub subject: Option<HeaderValue>,
}

impl Profile {
    /// A profile, with its header value made now.
    pub fn new(user: UserProfile) -> Self {
        let subject = HeaderValue::from_bytes(user.username.as_bytes()).ok();
        Self { user, subject }
    }
}

/// Who a validated token names.
pub trait Directory: Send + Sync + 'static {
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
pub struct DirectoryResolver(pub Arc<dyn Directory>);

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
pub struct Identity {
    /// Resolves token subjects.
    pub directory: Arc<dyn Directory>,
    /// `POST /token`, when the gateway issues tokens.
    pub token: Option<TokenService>,
    /// Whether the built-in demo users are in use.
    pub demo: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("token_endpoint", &self.token.is_some())
            .field("demo", &self.demo)
            .finish_non_exhaustive()
    }
}

/// The built-in demo users: johndoe/secret and alice/secretalice (disabled).
pub const DEMO_USERS: &str = include_str!("demo-users.toml");

/// The users, as read at start: username to profile. The users file is
/// read once, so this snapshot is the store's content; a lookup is one hash
/// probe and one `Arc` clone, with no allocation on the request path.
///
/// With external issuers (`--jwks-url`, `--issuer-url`), only tokens of the
/// gateway's own issuer are looked up here: an external identity provider's
/// users are its own, so its tokens (already verified against its keys and
/// issuer) stand for a user of their `sub`.
struct Snapshot {
    users: HashMap<String, Arc<Profile>>,
    /// The gateway's own `iss`, when external issuers are configured.
    own_issuer: Option<String>,
}

impl Directory for Snapshot {
    fn resolve(&self, claims: &Claims) -> Result<Arc<Profile>, AuthError> {
        if let Some(own) = &self.own_issuer {
            if claims.iss() != Some(own.as_str()) {
                let sub = claims.sub().ok_or_else(AuthError::unknown_user)?;
                return Ok(Arc::new(Profile::new(UserProfile::new(sub))));
            }
        }
        let user = claims
            .sub()
            .and_then(|sub| self.users.get(sub))
            .ok_or_else(AuthError::unknown_user)?;
        if user.user.disabled {
            return Err(AuthError::inactive_user());
        }
        Ok(user.clone())
    }
}

/// Loads the users named by `config` (or the built-in demo users) and builds
/// the token endpoint on them, signing with `signer`.
///
/// # Errors
///
/// A [`SettingError`] for `--users` when the file cannot be loaded.
pub fn load(config: &Config, signer: TokenSigner) -> Result<Identity, SettingError> {
    let (file, demo) = match &config.users {
        Some(path) => {
            let file = UsersFile::load(path).map_err(|e| {
                SettingError::new(
                    config::USERS,
                    config.source(config::USERS),
                    e.to_string(),
                    "fix the file (format: see the users file section of the gateway's README; \
                     make hashes with `cargo run --example hash-password`)",
                )
            })?;
            (file, false)
        }
        None => (
            UsersFile::parse(DEMO_USERS, UsersFileFormat::Toml)
                .expect("the demo users file is valid"),
            true,
        ),
    };
    let core = |setting: config::Setting, e: tower_jwt_auth::ConfigError| {
        SettingError::new(setting, config.source(setting), e.to_string(), "see --help")
    };
    let external = !config.jwks_urls.is_empty() || !config.issuer_urls.is_empty();
    let directory = Arc::new(Snapshot {
        users: file
            .users()
            .iter()
            .map(|u| {
                let mut profile = u.profile().clone();
                profile.disabled = u.is_disabled();
                (profile.username.clone(), Arc::new(Profile::new(profile)))
            })
            .collect(),
        own_issuer: config.issuer.clone().filter(|_| external),
    });
    let mut builder = TokenEndpoint::builder(file.into_store(), signer)
        .ttl(config.token_ttl)
        .map_err(|e| core(config::TOKEN_TTL, e))?
        .style(config.style)
        .client_ip({
            // Behind a trusted proxy, the client is the address it vouches for.
            let trusted = config.trusted_proxies.clone();
            move |parts| {
                let peer = parts.extensions.get::<ClientAddr>()?.0.ip();
                Some(trusted.client_ip(peer, &parts.headers))
            }
        });
    if let Some(iss) = &config.issuer {
        builder = builder.issuer(iss.clone());
    }
    if let Some(aud) = &config.audience {
        builder = builder.audience([aud.clone()]);
    }
    let endpoint = builder.build();
    let token = BoxCloneSyncService::new(ServiceExt::<Request<Full<Bytes>>>::map_response(
        endpoint, boxed,
    ));
    Ok(Identity {
        directory,
        token: Some(token),
        demo,
    })
}
