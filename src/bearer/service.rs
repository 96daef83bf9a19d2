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
use tower_service::Service;

use super::extract::{bearer_token, explain};
use super::layer::Shared;
use super::{CheckUser, Reject, RejectContext, Resolution, ResolveUser, ResponseBody};
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

fn insert<ReqB, C, U>(req: &mut Request<ReqB>, claims: C, user: U)
where
    C: Clone + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
{
    use std::any::TypeId;
    let ext = req.extensions_mut();
    ext.insert(claims);
    // `ClaimsAsUser` resolves to `()`: the claims are the user.
    if TypeId::of::<U>() != TypeId::of::<()>() {
        ext.insert(user);
    }
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

impl<S, C, R, J, A, ReqB, ResB> Service<Request<ReqB>> for Auth<S, C, R, J, A>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: ResolveUser<C>,
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
        let shared = &*self.shared;
        let validator = &shared.validator;
        let validated = match bearer_token(req.headers(), validator.token_len_cap()) {
            Ok(Some(token)) => validator
                .validate_scoped::<C>(token, &shared.scopes)
                .map_err(|e| explain(token, e)),
            Ok(None) if shared.optional => {
                return ResponseFuture::inner(self.inner.call(req));
            }
            Ok(None) => Err(AuthError::missing_credentials()),
            Err(e) => Err(e),
        };
        let (claims, scopes_ok) = match validated {
            Ok(v) => v,
            Err(e) => return ResponseFuture::rejected(rejection(&self.reject, shared, &req, e)),
        };
        match self.resolver.resolve(&claims) {
            Resolution::Ready(Ok(user)) => match authorize(shared, &self.check, &user, scopes_ok) {
                Ok(()) => {
                    insert(&mut req, claims, user);
                    ResponseFuture::inner(self.inner.call(req))
                }
                Err(e) => ResponseFuture::rejected(rejection(&self.reject, shared, &req, e)),
            },
            Resolution::Ready(Err(e)) => {
                ResponseFuture::rejected(rejection(&self.reject, shared, &req, e))
            }
            Resolution::Future(fut) => {
                // The inner service was polled ready: move *it* into the future
                // and keep a fresh clone here for the next `poll_ready`.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture {
                    state: State::Resolving {
                        fut,
                        pending: Some(Pending {
                            req,
                            inner,
                            claims,
                            scopes_ok,
                            shared: self.shared.clone(),
                            reject: self.reject.clone(),
                            check: self.check.clone(),
                        }),
                    },
                }
            }
        }
    }
}

/// What an asynchronous resolution needs once it completes.
struct Pending<S, C, J, A, ReqB> {
    req: Request<ReqB>,
    inner: S,
    claims: C,
    scopes_ok: bool,
    shared: Arc<Shared>,
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
        Resolving {
            #[pin]
            fut: R::Future,
            pending: Option<Pending<S, C, J, A, ReqB>>,
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

impl<S, C, R, J, A, ReqB> ResponseFuture<S, C, R, J, A, ReqB>
where
    S: Service<Request<ReqB>>,
    R: ResolveUser<C>,
{
    fn inner(fut: S::Future) -> Self {
        Self {
            state: State::Inner { fut },
        }
    }

    fn rejected(response: Response<Bytes>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, C, R, J, A, ReqB, ResB> Future for ResponseFuture<S, C, R, J, A, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    C: Clone + Send + Sync + 'static,
    R: ResolveUser<C>,
    J: Reject,
    A: CheckUser<R::User>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let res = response.take().expect("future polled after completion");
                    return Poll::Ready(Ok(res.map(ResponseBody::rejection)));
                }
                StateProj::Resolving { fut, pending } => {
                    let outcome = ready!(fut.poll(cx));
                    let Pending {
                        mut req,
                        mut inner,
                        claims,
                        scopes_ok,
                        shared,
                        reject,
                        check,
                    } = pending.take().expect("future polled after completion");
                    let authorized = outcome.and_then(|user| {
                        authorize(&shared, &check, &user, scopes_ok).map(|()| user)
                    });
                    match authorized {
                        Ok(user) => {
                            insert(&mut req, claims, user);
                            let fut = inner.call(req);
                            this.state.set(State::Inner { fut });
                        }
                        Err(e) => {
                            let res = rejection(&reject, &shared, &req, e);
                            return Poll::Ready(Ok(res.map(ResponseBody::rejection)));
                        }
                    }
                }
            }
        }
    }
}
