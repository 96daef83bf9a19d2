//! The Bearer JWT layer: [`AuthLayer`] and the [`Auth`] middleware it builds.
//!
//! For each request the middleware:
//!
//! 1. reads `Authorization: Bearer <token>` (RFC 6750 §2.1);
//! 2. validates the token with a [`JwtValidator`](crate::JwtValidator);
//! 3. resolves the user with a [`ResolveUser`] (by default the claims are the user);
//! 4. checks the route's required scopes, then the user (active);
//! 5. puts the claims and the user into the request extensions and calls the
//!    inner service.
//!
//! Any failure is answered with a response (never a service error), rendered by
//! a [`Reject`] ([`DefaultRejection`] in the configured [`Style`]), with the
//! [`AuthError`](crate::AuthError) in the response extensions.

mod body;
pub(crate) mod error;
mod extract;
mod layer;
mod reject;
mod resolve;
mod service;

pub use body::ResponseBody;
pub use layer::AuthLayer;
pub use reject::{DefaultRejection, Reject, RejectContext, Style};
pub use resolve::{
    resolve_sync, ActiveIf, AnyUser, CheckUser, ClaimsAsUser, Resolution, ResolveUser, SyncResolver,
};
pub use service::{Auth, ResponseFuture};
