use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::reject::is_scope_token;
use super::{ActiveIf, AnyUser, Auth, ClaimsAsUser, DefaultRejection, Style};
use crate::{Claims, ConfigError, JwtValidator};

/// Configuration shared by every clone of the layer and its services.
pub(crate) struct Shared {
    pub(crate) validator: JwtValidator,
    pub(crate) optional: bool,
    pub(crate) scopes: Box<[Box<str>]>,
    /// `scopes` joined with spaces, for challenges.
    pub(crate) scope_str: Option<Arc<str>>,
}

/// A [`Layer`] that authenticates requests with a Bearer JWT.
///
/// See the [crate documentation](crate) for an example.
///
/// Type parameters, all with defaults: `C` the claims type ([`Claims`]), `R` the
/// user resolver ([`ClaimsAsUser`]), `J` the rejection renderer
/// ([`DefaultRejection`]) and `A` the check on the resolved user ([`AnyUser`]).
#[must_use]
pub struct AuthLayer<C = Claims, R = ClaimsAsUser, J = DefaultRejection, A = AnyUser> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) resolver: R,
    pub(crate) reject: J,
    pub(crate) check: A,
    _claims: PhantomData<fn() -> C>,
}

impl AuthLayer {
    /// A layer that accepts the tokens `validator` accepts, with the standard
    /// [`Claims`], the claims as the user, and standards-style rejections.
    pub fn new(validator: JwtValidator) -> Self {
        Self {
            shared: Arc::new(Shared {
                validator,
                optional: false,
                scopes: Box::new([]),
                scope_str: None,
            }),
            resolver: ClaimsAsUser,
            reject: DefaultRejection::default(),
            check: AnyUser,
            _claims: PhantomData,
        }
    }
}

impl<C, R, J, A> AuthLayer<C, R, J, A> {
    fn shared_mut(&mut self) -> &mut Shared {
        // Settings are applied while building, before the layer is cloned; if it
        // was cloned, copy-on-write keeps the other clones unchanged.
        if Arc::get_mut(&mut self.shared).is_none() {
            let s = &*self.shared;
            self.shared = Arc::new(Shared {
                validator: s.validator.clone(),
                optional: s.optional,
                scopes: s.scopes.clone(),
                scope_str: s.scope_str.clone(),
            });
        }
        Arc::get_mut(&mut self.shared).expect("unique after copy")
    }

    /// Decodes claims into `C2`, the application's own `serde::Deserialize` type.
    pub fn with_claims<C2>(self) -> AuthLayer<C2, R, J, A> {
        AuthLayer {
            shared: self.shared,
            resolver: self.resolver,
            reject: self.reject,
            check: self.check,
            _claims: PhantomData,
        }
    }

    /// Resolves the user from the claims with `resolver` (see
    /// [`ResolveUser`](crate::ResolveUser)); the user is put into the request
    /// extensions beside the claims.
    pub fn resolve_user<R2>(self, resolver: R2) -> AuthLayer<C, R2, J, A> {
        AuthLayer {
            shared: self.shared,
            resolver,
            reject: self.reject,
            check: self.check,
            _claims: PhantomData,
        }
    }

    /// Refuses users for which `is_active` returns `false`, with
    /// [`AuthError::inactive_user`](crate::AuthError::inactive_user), after the
    /// scope check (FastAPI's `get_current_active_user`).
    pub fn require_active<F>(self, is_active: F) -> AuthLayer<C, R, J, ActiveIf<F>> {
        self.check_user(ActiveIf(is_active))
    }

    /// Runs `check` (see [`CheckUser`](crate::CheckUser)) on the resolved user,
    /// after the scope check.
    pub fn check_user<A2>(self, check: A2) -> AuthLayer<C, R, J, A2> {
        AuthLayer {
            shared: self.shared,
            resolver: self.resolver,
            reject: self.reject,
            check,
            _claims: PhantomData,
        }
    }

    /// Replaces the rejection responses (see [`Reject`](crate::Reject)).
    pub fn reject_with<J2>(self, reject: J2) -> AuthLayer<C, R, J2, A> {
        AuthLayer {
            shared: self.shared,
            resolver: self.resolver,
            reject,
            check: self.check,
            _claims: PhantomData,
        }
    }

    /// Optional authentication (FastAPI's `auto_error=False`): a request without
    /// credentials passes with no user and no claims in its extensions; a request
    /// with a bad token is still refused.
    pub fn optional(mut self) -> Self {
        self.shared_mut().optional = true;
        self
    }

    /// Requires every scope of `scopes` (case-sensitive), like FastAPI's
    /// `Security(..., scopes=[...])`. A valid token without them is refused with
    /// `insufficient_scope`; every rejection on such a route names the scopes in
    /// its challenge.
    ///
    /// Build one layer per route from a shared base with `clone()`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749 §3.3 `scope-token`.
    pub fn require_scopes<I, T>(mut self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut all: Vec<Box<str>> = self.shared.scopes.to_vec();
        for s in scopes {
            let s: String = s.into();
            if !is_scope_token(&s) {
                return Err(ConfigError::InvalidScope(s));
            }
            if !all.iter().any(|x| **x == *s) {
                all.push(s.into());
            }
        }
        let shared = self.shared_mut();
        shared.scope_str = (!all.is_empty()).then(|| Arc::from(all.join(" ")));
        shared.scopes = all.into();
        Ok(self)
    }

    /// The validator.
    pub fn validator(&self) -> &JwtValidator {
        &self.shared.validator
    }
}

impl<C, R, A> AuthLayer<C, R, DefaultRejection, A> {
    /// Sets the response style (default [`Style::Standards`]).
    pub fn style(mut self, style: Style) -> Self {
        self.reject = self.reject.style(style);
        self
    }

    /// Sets the realm of the `WWW-Authenticate` challenge (default `api`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRealm`] unless it is printable ASCII without `"` and `\`.
    pub fn realm(mut self, realm: &str) -> Result<Self, ConfigError> {
        self.reject = self.reject.realm(realm)?;
        Ok(self)
    }

    /// The default rejection renderer, as configured.
    pub fn rejection(&self) -> &DefaultRejection {
        &self.reject
    }
}

impl<C, R: Clone, J: Clone, A: Clone> Clone for AuthLayer<C, R, J, A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            resolver: self.resolver.clone(),
            reject: self.reject.clone(),
            check: self.check.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C, R: fmt::Debug, J: fmt::Debug, A: fmt::Debug> fmt::Debug for AuthLayer<C, R, J, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("validator", &self.shared.validator)
            .field("optional", &self.shared.optional)
            .field("scopes", &self.shared.scopes)
            .field("claims", &std::any::type_name::<C>())
            .field("resolver", &self.resolver)
            .field("reject", &self.reject)
            .field("check", &self.check)
            .finish()
    }
}

impl<S, C, R: Clone, J: Clone, A: Clone> Layer<S> for AuthLayer<C, R, J, A> {
    type Service = Auth<S, C, R, J, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            shared: self.shared.clone(),
            resolver: self.resolver.clone(),
            reject: self.reject.clone(),
            check: self.check.clone(),
            _claims: PhantomData,
        }
    }
}
