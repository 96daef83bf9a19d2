//! Resolving the token's `sub` with the same store the endpoint logs in against.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::store::{Lookup, UserStore};
use crate::{AuthError, Claims, Resolution, ResolveUser};

/// A [`ResolveUser`] for [`AuthLayer`](crate::AuthLayer) that looks the token's
/// `sub` up in a [`UserStore`]: the user put into the request extensions is the
/// store's profile (`S::Profile`, [`UserProfile`](super::UserProfile) for
/// [`MemoryStore`](super::MemoryStore)).
///
/// - A `sub` the store does not know (a deleted user) is refused with
///   [`AuthError::unknown_user`] (401 `invalid_token`), at once.
/// - A store failure is [`AuthError::unavailable`] (503).
/// - Disabled users are returned, so that
///   [`AuthLayer::require_active`](crate::AuthLayer::require_active) refuses them
///   *after* the scope check, in FastAPI's order (`get_current_active_user`); or
///   call [`refuse_disabled`](Self::refuse_disabled) to refuse them here with
///   [`AuthError::inactive_user`].
///
/// Stores that answer at once ([`UserStore::find_now`]) are resolved without the
/// layer's async path.
///
/// ```
/// use tower_jwt_auth::token::{MemoryStore, StoreResolver, UserProfile};
/// use tower_jwt_auth::{AuthLayer, JwtValidator};
///
/// let store = MemoryStore::new();
/// let layer = AuthLayer::new(JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?)
///     .resolve_user(StoreResolver::new(store))
///     .require_active(|user: &UserProfile| !user.disabled);
/// # let _ = layer;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
pub struct StoreResolver<S> {
    store: Arc<S>,
    refuse_disabled: bool,
}

impl<S> StoreResolver<S> {
    /// A resolver that looks users up in `store`.
    pub fn new(store: S) -> Self {
        Self::from_shared(Arc::new(store))
    }

    /// A resolver on a store already shared (the token endpoint's:
    /// [`TokenEndpoint::resolver`](super::TokenEndpoint::resolver)).
    pub fn from_shared(store: Arc<S>) -> Self {
        Self {
            store,
            refuse_disabled: false,
        }
    }

    /// Refuses disabled users at resolution with [`AuthError::inactive_user`]
    /// (standards style: 401 `invalid_token`; FastAPI style: 400 `Inactive user`),
    /// before the route's scope check.
    #[must_use]
    pub fn refuse_disabled(mut self) -> Self {
        self.refuse_disabled = true;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S> Clone for StoreResolver<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            refuse_disabled: self.refuse_disabled,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for StoreResolver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreResolver")
            .field("store", &self.store)
            .field("refuse_disabled", &self.refuse_disabled)
            .finish()
    }
}

fn outcome<P>(lookup: Lookup<P>, refuse_disabled: bool) -> Result<P, AuthError> {
    match lookup {
        Ok(Some(user)) if refuse_disabled && user.is_disabled() => Err(AuthError::inactive_user()),
        Ok(Some(user)) => Ok(user.into_profile()),
        Ok(None) => Err(AuthError::unknown_user()),
        Err(_e) => {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %_e, "user store failed while resolving a token's subject");
            Err(AuthError::unavailable("User store unavailable"))
        }
    }
}

impl<S: UserStore> ResolveUser<Claims> for StoreResolver<S> {
    type User = S::Profile;
    type Future = ResolveFuture<S::Profile>;

    fn resolve(&mut self, claims: &Claims) -> Resolution<Self::User, Self::Future> {
        let Some(sub) = claims.sub() else {
            return Resolution::Ready(Err(AuthError::unknown_user()));
        };
        let refuse = self.refuse_disabled;
        if let Some(lookup) = self.store.find_now(sub) {
            return Resolution::Ready(outcome(lookup, refuse));
        }
        let store = self.store.clone();
        let sub = sub.to_owned();
        Resolution::Future(ResolveFuture {
            inner: Box::pin(async move { outcome(store.find(&sub).await, refuse) }),
        })
    }
}

/// The future of a [`StoreResolver`] lookup that has to wait.
pub struct ResolveFuture<P> {
    inner: Pin<Box<dyn Future<Output = Result<P, AuthError>> + Send>>,
}

impl<P> fmt::Debug for ResolveFuture<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveFuture").finish_non_exhaustive()
    }
}

impl<P> Future for ResolveFuture<P> {
    type Output = Result<P, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
