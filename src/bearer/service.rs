use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use sync_wrapper::SyncWrapper;
use tower_service::Service;

use super::extract::{bearer_token, explain};
use super::layer::Shared;
use super::{CheckUser, Reject, RejectContext, Resolution, ResolveUser, ResponseBody};
use crate::validate::{Invalid, RefreshFuture};
use crate::{AuthError, AuthErrorKind};

/// The middleware built by [`AuthLayer`](crate::AuthLayer).
///
/// See the [crate documentation](crate) for an example.
#[must_use]
pub struct Auth<S, C, R, J, A> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) resolver: R,
    pub(crate) reject: J,
    pub(crate) check: A,
    pub(crate) _claims: PhantomData<fn() -> C>,
}

impl<S, C, R, J, A> Auth<S, C, R, J, A> {
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
}

impl<S: Clone, C, R: Clone, J: Clone, A: Clone> Clone for Auth<S, C, R, J, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            resolver: self.resolver.clone(),
            reject: self.reject.clone(),
            check: self.check.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, C, R: fmt::Debug, J: fmt::Debug, A: fmt::Debug> fmt::Debug
    for Auth<S, C, R, J, A>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("validator", &self.shared.validator)
            .field("resolver", &self.resolver)
            .field("reject", &self.reject)
            .field("check", &self.check)
            .finish()
    }
}

/// Scope and user checks that run once the user is known, in FastAPI's order:
/// scopes, then the user check (active).
fn authorize<U, A: CheckUser<U>>(
    shared: &Shared,
    check: &A,
    user: &U,
    scopes_ok: bool,
) -> Result<(), AuthError> {
    if !scopes_ok {
        let required = shared.scope_str.clone().unwrap_or_else(|| Arc::from(""));
        return Err(AuthError::insufficient_scope(required));
    }
    check.check(user)
}

/// Puts the claims (unless they became the user) and the user into the extensions.
fn insert<ReqB, C, U>(req: &mut Request<ReqB>, claims: Option<C>, user: U)
where
    C: Clone + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
{
    let ext = req.extensions_mut();
    if let Some(claims) = claims {
        ext.insert(claims);
    }
    ext.insert(user);
}

fn rejection<ReqB, J: Reject>(
    reject: &J,
    shared: &Shared,
    req: &Request<ReqB>,
    error: AuthError,
) -> Response<Bytes> {
    let error = match (&shared.scope_str, error.kind()) {
        (Some(scope), kind)
            if kind != AuthErrorKind::MissingCredentials && error.scope().is_none() =>
        {
            error.with_scope(scope.clone())
        }
        _ => error,
    };
    #[cfg(feature = "tracing")]
    tracing::debug!(
        kind = error.kind().as_str(),
        reason = error.description(),
        "request refused by AuthLayer"
    );
    let ctx = RejectContext::new(req.method(), req.uri(), req.headers());
    let mut res = reject.reject(&error, &ctx);
    res.extensions_mut().insert(error);
    res
}

/// What to do with a request once its credentials were looked at.
enum Step<C, U, F> {
    /// No credentials, optional authentication: call the inner service as is.
    Pass,
    /// Authenticated: insert claims (unless they are the user) and user, call the
    /// inner service.
    Call(Option<C>, U),
    /// Refuse.
    Reject(AuthError),
    /// Wait for the user lookup.
    Resolve(F, C, bool),
    /// Wait for a key refresh (unknown `kid`), then start over.
    Refresh(RefreshFuture),
}

/// Authenticates `req`: credentials, token, user (when known at once), scopes, user check.
fn authenticate<ReqB, C, R, A>(
    shared: &Shared,
    resolver: &mut R,
    check: &A,
    req: &Request<ReqB>,
    may_refresh: bool,
) -> Step<C, R::User, R::Future>
where
    C: DeserializeOwned + Send + Sync + 'static,
    R: ResolveUser<C>,
    A: CheckUser<R::User>,
{
    let validator = &shared.validator;
    let token = match bearer_token(req.headers(), validator.token_len_cap()) {
        Ok(Some(token)) => token,
        // A route that requires scopes is never optional: leaving the token out
        // must not skip the scope check.
        Ok(None) if shared.optional && shared.scopes.is_empty() => return Step::Pass,
        Ok(None) => return Step::Reject(AuthError::missing_credentials()),
        Err(e) => return Step::Reject(e),
    };
    let (claims, scopes_ok) = match validator.validate_scoped::<C>(token, &shared.scopes) {
        Ok(v) => v,
        Err(Invalid::UnknownKid { kid, issuer }) if may_refresh => {
            return match validator.refresh(issuer.as_deref(), &kid) {
                Some(fut) => Step::Refresh(fut),
                None => Step::Reject(Invalid::UnknownKid { kid, issuer }.into_error()),
            };
        }
        Err(e) => return Step::Reject(explain(token, e.into_error())),
    };
    let (claims, user) = match resolver.resolve(&claims) {
        Resolution::Ready(Ok(user)) => (Some(claims), user),
        Resolution::Ready(Err(e)) => return Step::Reject(e),
        Resolution::Future(fut) => return Step::Resolve(fut, claims, scopes_ok),
        Resolution::ClaimsAreUser => {
            // Move the claims into the user's place when they are of its type.
            let mut slot = Some(claims);
            let user = (&mut slot as &mut dyn Any)
                .downcast_mut::<Option<R::User>>()
                .and_then(Option::take);
            match user {
                Some(user) => (None, user),
                None => {
                    return Step::Reject(AuthError::unavailable(
                        "The user resolver is misconfigured",
                    ))
                }
            }
        }
    };
    match authorize(shared, check, &user, scopes_ok) {
        Ok(()) => Step::Call(claims, user),
        Err(e) => Step::Reject(e),
    }
}

impl<S, C, R, J, A, ReqB, ResB> Service<Request<ReqB>> for Auth<S, C, R, J, A>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: ResolveUser<C> + Clone,
    J: Reject + Clone,
    A: CheckUser<R::User> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, C, R, J, A, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let step = authenticate(&self.shared, &mut self.resolver, &self.check, &req, true);
        let state = match step {
            Step::Pass => State::Inner {
                fut: self.inner.call(req),
            },
            Step::Call(claims, user) => {
                insert(&mut req, claims, user);
                State::Inner {
                    fut: self.inner.call(req),
                }
            }
            Step::Reject(e) => State::Rejected {
                response: Some(rejection(&self.reject, &self.shared, &req, e)),
            },
            // Waiting first: the inner service was polled ready, so move *it* into
            // the future and keep a fresh clone here for the next `poll_ready`.
            Step::Resolve(fut, claims, scopes_ok) => State::Resolving {
                fut,
                claims: Some((claims, scopes_ok)),
                ctx: Some(self.context(req)),
            },
            Step::Refresh(fut) => State::Refreshing {
                fut: SyncWrapper::new(fut),
                ctx: Some(self.context(req)),
            },
        };
        ResponseFuture { state }
    }
}

impl<S: Clone, C, R: Clone, J: Clone, A: Clone> Auth<S, C, R, J, A> {
    fn context<ReqB>(&mut self, req: Request<ReqB>) -> Waiting<S, R, J, A, ReqB> {
        let clone = self.inner.clone();
        Waiting {
            req,
            inner: std::mem::replace(&mut self.inner, clone),
            shared: self.shared.clone(),
            resolver: self.resolver.clone(),
            reject: self.reject.clone(),
            check: self.check.clone(),
        }
    }
}

/// What a request that waits (for a user lookup or a key refresh) carries along.
struct Waiting<S, R, J, A, ReqB> {
    req: Request<ReqB>,
    inner: S,
    shared: Arc<Shared>,
    resolver: R,
    reject: J,
    check: A,
}

pin_project! {
    /// The response future of [`Auth`].
    pub struct ResponseFuture<S, C, R, J, A, ReqB>
    where
        S: Service<Request<ReqB>>,
        R: ResolveUser<C>,
    {
        #[pin]
        state: State<S, C, R, J, A, ReqB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, C, R, J, A, ReqB>
    where
        S: Service<Request<ReqB>>,
        R: ResolveUser<C>,
    {
        Refreshing {
            // `SyncWrapper` keeps the response future `Sync` though a key
            // source's future need not be.
            fut: SyncWrapper<RefreshFuture>,
            ctx: Option<Waiting<S, R, J, A, ReqB>>,
        },
        Resolving {
            #[pin]
            fut: R::Future,
            claims: Option<(C, bool)>,
            ctx: Option<Waiting<S, R, J, A, ReqB>>,
        },
        Inner {
            #[pin]
            fut: S::Future,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, C, R, J, A, ReqB, ResB> Future for ResponseFuture<S, C, R, J, A, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: ResolveUser<C>,
    J: Reject,
    A: CheckUser<R::User>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let res = response.take().expect("future polled after completion");
                    return Poll::Ready(Ok(res.map(ResponseBody::rejection)));
                }
                StateProj::Refreshing { fut, ctx } => {
                    ready!(fut.get_mut().as_mut().poll(cx));
                    let mut ctx = ctx.take().expect("future polled after completion");
                    // Once more with the refreshed keys; an unknown `kid` now is final.
                    let step =
                        authenticate(&ctx.shared, &mut ctx.resolver, &ctx.check, &ctx.req, false);
                    match step {
                        Step::Pass => State::Inner {
                            fut: ctx.inner.call(ctx.req),
                        },
                        Step::Call(claims, user) => {
                            insert(&mut ctx.req, claims, user);
                            State::Inner {
                                fut: ctx.inner.call(ctx.req),
                            }
                        }
                        Step::Reject(e) => State::Rejected {
                            response: Some(rejection(&ctx.reject, &ctx.shared, &ctx.req, e)),
                        },
                        Step::Resolve(fut, claims, scopes_ok) => State::Resolving {
                            fut,
                            claims: Some((claims, scopes_ok)),
                            ctx: Some(ctx),
                        },
                        Step::Refresh(_) => unreachable!("no refresh on the second pass"),
                    }
                }
                StateProj::Resolving { fut, claims, ctx } => {
                    let outcome = ready!(fut.poll(cx));
                    let mut ctx = ctx.take().expect("future polled after completion");
                    let (claims, scopes_ok) = claims.take().expect("claims kept until resolved");
                    let authorized = outcome.and_then(|user| {
                        authorize(&ctx.shared, &ctx.check, &user, scopes_ok).map(|()| user)
                    });
                    match authorized {
                        Ok(user) => {
                            insert(&mut ctx.req, Some(claims), user);
                            State::Inner {
                                fut: ctx.inner.call(ctx.req),
                            }
                        }
                        Err(e) => State::Rejected {
                            response: Some(rejection(&ctx.reject, &ctx.shared, &ctx.req, e)),
                        },
                    }
                }
            };
            this.state.set(next);
        }
    }
}
