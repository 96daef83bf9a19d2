//! Scope requirements that run after an [`AuthLayer`](crate::AuthLayer): FastAPI's
//! `SecurityScopes`, for any tower service.
//!
//! There are three ways to require scopes, all with the same responses:
//!
//! - [`AuthLayer::require_scopes`](crate::AuthLayer::require_scopes): one layer that
//!   authenticates *and* checks the scopes. Use it to reproduce FastAPI exactly: every
//!   rejection on the route (a bad token too) names the scopes in its challenge, and
//!   the scope check runs before the active-user check.
//! - [`RequireScopesLayer`]: a separate layer placed *inside* an `AuthLayer` (on one
//!   route, one gRPC service, one sub-router). It reads the claims the `AuthLayer`
//!   put into the request extensions (any type that implements [`HasScopes`]).
//! - [`RequiredScopes::check`]: the predicate itself, for handlers and for your own
//!   middleware; with the `axum` feature, the
//!   [`Scoped`](crate::axum::Scoped) extractor wraps it.
//!
//! A token that lacks a scope is answered, by the default rejection, with
//! 403 `insufficient_scope` and `WWW-Authenticate: Bearer realm="...",
//! error="insufficient_scope", ..., scope="<required>"` in the standards style, and
//! with 401 `{"detail":"Not enough permissions"}` and `WWW-Authenticate: Bearer
//! scope="<required>"` in the FastAPI style (gRPC: `grpc-status` 7,
//! `PERMISSION_DENIED`). Scope comparison is case-sensitive (RFC 6749 §3.3).
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::scopes::RequireScopesLayer;
//! use tower_jwt_auth::{sign_hs256, AuthLayer, Claims, JwtValidator, Style};
//!
//! const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
//!
//! async fn items(_: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::from("[]")))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(JwtValidator::hs256(SECRET)?).style(Style::FastApi))
//!     .layer(RequireScopesLayer::new(["items", "me"])?.style(Style::FastApi))
//!     .service_fn(items);
//!
//! let token = sign_hs256(SECRET, &Claims::new("johndoe").with_exp(4_000_000_000).with_scope("me"))?;
//! let request = Request::builder()
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Full::default())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer scope="items me""#);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::bearer::ResponseBody;
use crate::{AuthError, Claims, ConfigError, DefaultRejection, Reject, RejectContext, Style};

/// Claims (or a user) that can tell which scopes were granted.
///
/// Implemented for [`Claims`]; implement it for your own claims type to use it
/// with [`RequireScopesLayer`], [`RequiredScopes::check`] and the axum
/// [`Scoped`](crate::axum::Scoped) extractor.
pub trait HasScopes {
    /// Whether `scope` was granted. Compare case-sensitively (RFC 6749 §3.3).
    fn has_scope(&self, scope: &str) -> bool;
}

impl HasScopes for Claims {
    fn has_scope(&self, scope: &str) -> bool {
        Claims::has_scope(self, scope)
    }
}

impl<T: HasScopes + ?Sized> HasScopes for &T {
    fn has_scope(&self, scope: &str) -> bool {
        (**self).has_scope(scope)
    }
}

impl<T: HasScopes + ?Sized> HasScopes for Arc<T> {
    fn has_scope(&self, scope: &str) -> bool {
        (**self).has_scope(scope)
    }
}

/// A set of required scopes: all of them must be granted.
///
/// Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct RequiredScopes {
    scopes: Arc<[Box<str>]>,
    /// `scopes` joined with spaces, for challenges.
    joined: Arc<str>,
}

impl RequiredScopes {
    /// Requires every scope of `scopes`, in this order (duplicates are dropped).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749 §3.3
    /// `scope-token` (empty, or with a space, `"`, `\` or a non-ASCII character).
    pub fn new<I, T>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut all: Vec<Box<str>> = Vec::new();
        for s in scopes {
            let s: String = s.into();
            if !is_scope_token(&s) {
                return Err(ConfigError::InvalidScope(s));
            }
            if !all.iter().any(|x| **x == *s) {
                all.push(s.into());
            }
        }
        Ok(Self {
            joined: Arc::from(all.join(" ")),
            scopes: all.into(),
        })
    }

    /// The required scopes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }

    /// The required scopes, space-separated (as in a challenge's `scope`).
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// Whether no scope is required.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Checks that `claims` grant every required scope.
    ///
    /// # Errors
    ///
    /// [`AuthError::insufficient_scope`] naming all the required scopes.
    pub fn check<C: HasScopes + ?Sized>(&self, claims: &C) -> Result<(), AuthError> {
        if self.scopes.iter().all(|s| claims.has_scope(s)) {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(self.joined.clone()))
        }
    }
}

impl fmt::Debug for RequiredScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A [`Layer`] that refuses requests whose claims lack a scope.
///
/// Put it inside an [`AuthLayer`](crate::AuthLayer) (closer to the service): it
/// reads the claims of type `C` ([`Claims`] by default, see
/// [`with_claims`](Self::with_claims)) from the request extensions. A request
/// without claims (an [optional](crate::AuthLayer::optional) `AuthLayer` let it
/// through without credentials, or no `AuthLayer` ran) is refused as having no
/// credentials; a request whose claims lack a scope is refused with
/// [`AuthError::insufficient_scope`]. The [`AuthError`] is put into the response
/// extensions, as the `AuthLayer` does.
///
/// See the [module docs](self) for an example.
#[must_use]
pub struct RequireScopesLayer<C = Claims, J = DefaultRejection> {
    scopes: RequiredScopes,
    reject: J,
    _claims: PhantomData<fn() -> C>,
}

impl RequireScopesLayer {
    /// Requires every scope of `scopes`, with standards-style rejections.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749 §3.3 `scope-token`.
    pub fn new<I, T>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(Self::from_scopes(RequiredScopes::new(scopes)?))
    }

    /// Requires `scopes`, with standards-style rejections.
    pub fn from_scopes(scopes: RequiredScopes) -> Self {
        Self {
            scopes,
            reject: DefaultRejection::default(),
            _claims: PhantomData,
        }
    }
}

impl<C, J> RequireScopesLayer<C, J> {
    /// Reads the claims as `C2` (your type, the one given to
    /// [`AuthLayer::with_claims`](crate::AuthLayer::with_claims)) instead of [`Claims`].
    pub fn with_claims<C2>(self) -> RequireScopesLayer<C2, J> {
        RequireScopesLayer {
            scopes: self.scopes,
            reject: self.reject,
            _claims: PhantomData,
        }
    }

    /// Replaces the rejection responses (see [`Reject`]).
    pub fn reject_with<J2>(self, reject: J2) -> RequireScopesLayer<C, J2> {
        RequireScopesLayer {
            scopes: self.scopes,
            reject,
            _claims: PhantomData,
        }
    }

    /// The required scopes.
    pub fn scopes(&self) -> &RequiredScopes {
        &self.scopes
    }
}

impl<C> RequireScopesLayer<C, DefaultRejection> {
    /// Sets the response style (default [`Style::Standards`]); use the one of the
    /// `AuthLayer`.
    pub fn style(mut self, style: Style) -> Self {
        self.reject = self.reject.style(style);
        self
    }

    /// Sets the realm of the `WWW-Authenticate` challenge (default `api`); use the
    /// one of the `AuthLayer`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRealm`] unless it is printable ASCII without `"` and `\`.
    pub fn realm(mut self, realm: &str) -> Result<Self, ConfigError> {
        self.reject = self.reject.realm(realm)?;
        Ok(self)
    }

    /// Renders rejections with `rejection`, typically
    /// [`AuthLayer::rejection`](crate::AuthLayer::rejection)`().clone()`, so both
    /// layers answer in the same style and realm.
    pub fn rejection(mut self, rejection: DefaultRejection) -> Self {
        self.reject = rejection;
        self
    }
}

impl<C, J: Clone> Clone for RequireScopesLayer<C, J> {
    fn clone(&self) -> Self {
        Self {
            scopes: self.scopes.clone(),
            reject: self.reject.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C, J: fmt::Debug> fmt::Debug for RequireScopesLayer<C, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("scopes", &self.scopes)
            .field("claims", &std::any::type_name::<C>())
            .field("reject", &self.reject)
            .finish()
    }
}

impl<S, C, J: Clone> Layer<S> for RequireScopesLayer<C, J> {
    type Service = RequireScopes<S, C, J>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            scopes: self.scopes.clone(),
            reject: self.reject.clone(),
            _claims: PhantomData,
        }
    }
}

/// The middleware built by [`RequireScopesLayer`].
#[must_use]
pub struct RequireScopes<S, C = Claims, J = DefaultRejection> {
    inner: S,
    scopes: RequiredScopes,
    reject: J,
    _claims: PhantomData<fn() -> C>,
}

impl<S, C, J> RequireScopes<S, C, J> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The required scopes.
    pub fn scopes(&self) -> &RequiredScopes {
        &self.scopes
    }
}

impl<S: Clone, C, J: Clone> Clone for RequireScopes<S, C, J> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            scopes: self.scopes.clone(),
            reject: self.reject.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, C, J: fmt::Debug> fmt::Debug for RequireScopes<S, C, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("scopes", &self.scopes)
            .field("claims", &std::any::type_name::<C>())
            .field("reject", &self.reject)
            .finish()
    }
}

impl<S, C, J, ReqB, ResB> Service<Request<ReqB>> for RequireScopes<S, C, J>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    C: HasScopes + Send + Sync + 'static,
    J: Reject,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let checked = match req.extensions().get::<C>() {
            Some(claims) => self.scopes.check(claims),
            None => Err(AuthError::missing_credentials()),
        };
        match checked {
            Ok(()) => ResponseFuture {
                kind: Kind::Inner {
                    fut: self.inner.call(req),
                },
            },
            Err(error) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(
                    kind = error.kind().as_str(),
                    required = self.scopes.as_str(),
                    "request refused by RequireScopes"
                );
                let ctx = RejectContext::new(req.method(), req.uri(), req.headers());
                let mut res = self.reject.reject(&error, &ctx);
                res.extensions_mut().insert(error);
                ResponseFuture {
                    kind: Kind::Rejected {
                        response: Some(res),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopes`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => fut
                .poll(cx)
                .map(|r| r.map(|res| res.map(ResponseBody::inner))),
            KindProj::Rejected { response } => {
                let res = response.take().expect("future polled after completion");
                Poll::Ready(Ok(res.map(ResponseBody::rejection)))
            }
        }
    }
}

/// Whether `s` is a valid RFC 6749 §3.3 `scope-token`:
/// `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_scopes_refuse_invalid_tokens() {
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert_eq!(
                RequiredScopes::new([bad]).unwrap_err(),
                ConfigError::InvalidScope(bad.into())
            );
        }
    }

    #[test]
    fn required_scopes_drop_duplicates_and_keep_order() {
        let s = RequiredScopes::new(["items", "me", "items"]).unwrap();
        assert_eq!(s.as_str(), "items me");
        assert_eq!(format!("{s:?}"), r#"["items", "me"]"#);
    }

    #[test]
    fn check_is_case_sensitive_and_needs_all() {
        let s = RequiredScopes::new(["me", "items"]).unwrap();
        let c = Claims::new("x").with_scope("me items");
        assert!(s.check(&c).is_ok());
        let c = Claims::new("x").with_scope("me ITEMS");
        let e = s.check(&c).unwrap_err();
        assert_eq!(e.kind(), crate::AuthErrorKind::InsufficientScope);
        assert_eq!(e.scope(), Some("me items"));
        assert!(RequiredScopes::new(Vec::<String>::new())
            .unwrap()
            .check(&Claims::new("x"))
            .is_ok());
    }

    use http_body_util::{BodyExt, Full};
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    type Res = Response<ResponseBody<Full<Bytes>>>;

    async fn ok(_: Request<()>) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        Ok(Response::new(Full::from("ok")))
    }

    async fn call(layer: RequireScopesLayer, claims: Option<Claims>, grpc: bool) -> Res {
        let svc = ServiceBuilder::new().layer(layer).service_fn(ok);
        let mut req = Request::new(());
        if let Some(c) = claims {
            req.extensions_mut().insert(c);
        }
        if grpc {
            req.headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
        }
        svc.oneshot(req).await.unwrap()
    }

    async fn body(res: Res) -> String {
        let b = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn scoped(scope: &str) -> Option<Claims> {
        Some(Claims::new("jo").with_scope(scope))
    }

    #[tokio::test]
    async fn granted_scopes_reach_the_service() {
        let layer = RequireScopesLayer::new(["me"]).unwrap();
        let res = call(layer, scoped("items me"), false).await;
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(body(res).await, "ok");
    }

    #[tokio::test]
    async fn missing_scope_standards_is_403() {
        let layer = RequireScopesLayer::new(["me", "items"]).unwrap();
        let res = call(layer, scoped("me"), false).await;
        assert_eq!(res.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="me items""#
        );
        let err = res.extensions().get::<AuthError>().unwrap().clone();
        assert_eq!(err.kind(), crate::AuthErrorKind::InsufficientScope);
        assert_eq!(
            body(res).await,
            r#"{"error":"insufficient_scope","error_description":"The access token lacks a required scope"}"#
        );
    }

    #[tokio::test]
    async fn missing_scope_fastapi_is_401_not_enough_permissions() {
        let layer = RequireScopesLayer::new(["me", "items"])
            .unwrap()
            .style(Style::FastApi);
        let res = call(layer, scoped("items"), false).await;
        assert_eq!(res.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer scope="me items""#
        );
        assert_eq!(body(res).await, r#"{"detail":"Not enough permissions"}"#);
    }

    #[tokio::test]
    async fn no_claims_is_missing_credentials() {
        let layer = RequireScopesLayer::new(["me"])
            .unwrap()
            .style(Style::FastApi);
        let res = call(layer, None, false).await;
        assert_eq!(res.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(body(res).await, r#"{"detail":"Not authenticated"}"#);
    }

    #[tokio::test]
    async fn grpc_missing_scope_is_permission_denied() {
        let layer = RequireScopesLayer::new(["me"]).unwrap();
        let res = call(layer, scoped("items"), true).await;
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(res.headers()["grpc-status"], "7");
    }

    #[tokio::test]
    async fn custom_claims_and_rejection() {
        #[derive(Clone)]
        struct Mine(Vec<&'static str>);
        impl HasScopes for Mine {
            fn has_scope(&self, scope: &str) -> bool {
                self.0.contains(&scope)
            }
        }
        let layer = RequireScopesLayer::new(["a"])
            .unwrap()
            .with_claims::<Mine>()
            .reject_with(|e: &AuthError, _: &RejectContext<'_>| {
                let mut r = Response::new(Bytes::from(e.scope().unwrap_or("").to_owned()));
                *r.status_mut() = http::StatusCode::IM_A_TEAPOT;
                r
            });
        let svc = layer.layer(service_fn(ok));
        let mut req = Request::new(());
        req.extensions_mut().insert(Mine(vec!["b"]));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), http::StatusCode::IM_A_TEAPOT);
        assert_eq!(body(res).await, "a");
        let mut req = Request::new(());
        req.extensions_mut().insert(Mine(vec!["a"]));
        assert_eq!(
            svc.oneshot(req).await.unwrap().status(),
            http::StatusCode::OK
        );
    }

    #[tokio::test]
    async fn readiness_is_forwarded() {
        let layer = RequireScopesLayer::new(["me"]).unwrap();
        let (mut svc, mut handle) =
            tower_test::mock::spawn_layer::<Request<()>, Response<()>, _>(layer);
        handle.allow(0);
        tokio_test::assert_pending!(svc.poll_ready());
        handle.allow(1);
        tokio_test::assert_ready_ok!(svc.poll_ready());
    }
}

/// The integrations guide (`docs/integrations.md`), compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/integrations.md")]
struct IntegrationsDoctests;
