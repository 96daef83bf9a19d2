//! Turning validated claims into the application's user.

use std::fmt;
use std::future::Future;

use crate::AuthError;

/// The outcome of [`ResolveUser::resolve`]: known at once, or a future.
///
/// Answering [`Ready`](Resolution::Ready) lets the layer call the inner service
/// straight away, without cloning it; a [`Future`](Resolution::Future) is awaited
/// first (a database lookup).
#[derive(Debug)]
pub enum Resolution<U, F> {
    /// The user (or the rejection) is known now.
    Ready(Result<U, AuthError>),
    /// The user will be known when the future completes.
    Future(F),
    /// The claims are the user: the layer moves the claims into the user's place
    /// instead of copying them. Only meaningful when the user type *is* the claims
    /// type (as for [`ClaimsAsUser`]); otherwise the request is refused with
    /// [`AuthError::unavailable`].
    ClaimsAreUser,
}

/// Resolves the user that validated claims name: the layer's async extension point.
///
/// Return [`AuthError::unknown_user`] when the subject does not exist (answered
/// as `invalid_token`), [`AuthError::inactive_user`] when it is disabled, and
/// [`AuthError::unavailable`] when the lookup itself failed.
///
/// It is implemented for:
/// - [`ClaimsAsUser`], the default: the claims are the user;
/// - closures `FnMut(&C) -> impl Future<Output = Result<U, AuthError>>`, for
///   async lookups;
/// - [`SyncResolver`], built with [`resolve_sync`], for lookups that need no waiting.
///
/// ```
/// use tower_jwt_auth::{AuthError, AuthLayer, Claims, JwtValidator};
///
/// #[derive(Clone)]
/// struct User { name: String }
///
/// async fn find_user(name: &str) -> Option<User> {
///     (name == "johndoe").then(|| User { name: name.into() })
/// }
///
/// let validator = JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?;
/// let layer = AuthLayer::new(validator).resolve_user(|claims: &Claims| {
///     let sub = claims.sub().unwrap_or_default().to_owned();
///     async move { find_user(&sub).await.ok_or_else(AuthError::unknown_user) }
/// });
/// # let _ = layer;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
pub trait ResolveUser<C> {
    /// The application's user type, put into the request extensions.
    type User: Clone + Send + Sync + 'static;
    /// The future of a lookup that has to wait.
    type Future: Future<Output = Result<Self::User, AuthError>>;

    /// Resolves the user for `claims`.
    fn resolve(&mut self, claims: &C) -> Resolution<Self::User, Self::Future>;
}

/// The default resolver: the claims are the user.
///
/// The claims go into the request extensions once, without a copy, and
/// [`AuthLayer::require_active`](crate::AuthLayer::require_active) receives them.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct ClaimsAsUser;

impl<C: Clone + Send + Sync + 'static> ResolveUser<C> for ClaimsAsUser {
    type User = C;
    type Future = std::future::Ready<Result<C, AuthError>>;

    fn resolve(&mut self, _: &C) -> Resolution<C, Self::Future> {
        Resolution::ClaimsAreUser
    }
}

impl<F, Fut, C, U> ResolveUser<C> for F
where
    F: FnMut(&C) -> Fut,
    Fut: Future<Output = Result<U, AuthError>>,
    U: Clone + Send + Sync + 'static,
{
    type User = U;
    type Future = Fut;

    fn resolve(&mut self, claims: &C) -> Resolution<U, Fut> {
        Resolution::Future(self(claims))
    }
}

/// A resolver that answers at once, from a closure `Fn(&C) -> Result<U, AuthError>`
/// (an in-memory user table). Built with [`resolve_sync`].
#[derive(Clone)]
pub struct SyncResolver<F>(F);

/// Wraps a synchronous lookup so the layer skips the async path for it.
pub fn resolve_sync<F>(f: F) -> SyncResolver<F> {
    SyncResolver(f)
}

impl<F> fmt::Debug for SyncResolver<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SyncResolver")
            .field(&std::any::type_name::<F>())
            .finish()
    }
}

impl<F, C, U> ResolveUser<C> for SyncResolver<F>
where
    F: FnMut(&C) -> Result<U, AuthError>,
    U: Clone + Send + Sync + 'static,
{
    type User = U;
    type Future = std::future::Ready<Result<U, AuthError>>;

    fn resolve(&mut self, claims: &C) -> Resolution<U, Self::Future> {
        Resolution::Ready((self.0)(claims))
    }
}

/// A check on the resolved user, run after the scope check: FastAPI's
/// `get_current_active_user`. Set with
/// [`AuthLayer::require_active`](crate::AuthLayer::require_active).
pub trait CheckUser<U> {
    /// `Ok` to let the request through.
    ///
    /// # Errors
    ///
    /// The rejection to answer with, typically [`AuthError::inactive_user`].
    fn check(&self, user: &U) -> Result<(), AuthError>;
}

/// The default check: every resolved user passes.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct AnyUser;

impl<U> CheckUser<U> for AnyUser {
    fn check(&self, _: &U) -> Result<(), AuthError> {
        Ok(())
    }
}

/// A check from a predicate: the user is active when it returns `true`.
#[derive(Clone)]
pub struct ActiveIf<F>(pub(crate) F);

impl<F> fmt::Debug for ActiveIf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ActiveIf")
            .field(&std::any::type_name::<F>())
            .finish()
    }
}

impl<F, U> CheckUser<U> for ActiveIf<F>
where
    F: Fn(&U) -> bool,
{
    fn check(&self, user: &U) -> Result<(), AuthError> {
        if (self.0)(user) {
            Ok(())
        } else {
            Err(AuthError::inactive_user())
        }
    }
}
