//! tonic integration (feature `tonic`).
//!
//! The [`AuthLayer`](crate::AuthLayer) is a plain tower layer, so it fits tonic
//! both ways, without a `BufferLayer`:
//!
//! - for every service: `Server::builder().layer(auth_layer)`;
//! - for one service: `Server::builder().add_service(auth_layer.layer(svc))`;
//!   [`Auth`] and [`RequireScopes`]
//!   forward [`NamedService`] to the service they wrap, which `add_service` needs.
//!
//! gRPC requests (`content-type: application/grpc...`) are refused as gRPC by the
//! [`DefaultRejection`](crate::DefaultRejection): HTTP 200 with `grpc-status` 16
//! (`UNAUTHENTICATED`), or 7 (`PERMISSION_DENIED`) for a missing scope, and a
//! `grpc-message`, so a tonic client gets a [`Status`] with that code. tonic copies
//! the HTTP request extensions into the [`tonic::Request`], so the
//! handler finds the claims and the user there; [`user`] and [`claims`] read them.
//!
//! ```
//! use tonic::transport::Server;
//! use tonic_health::server::health_reporter;
//! use tower_layer::Layer;
//! use tower_jwt_auth::{AuthLayer, JwtValidator};
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let validator = JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?;
//! let auth = AuthLayer::new(validator);
//! let (_reporter, health) = health_reporter();
//!
//! // Every service:
//! let _all = Server::builder().layer(auth.clone()).add_service(health.clone());
//! // One service:
//! let _one = Server::builder().add_service(auth.layer(health));
//! # Ok(())
//! # }
//! ```

use ::tonic::server::NamedService;
use ::tonic::Status;

use crate::scopes::RequireScopes;
use crate::{Auth, Claims};

impl<S: NamedService, C, R, J, A> NamedService for Auth<S, C, R, J, A> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService, C, J> NamedService for RequireScopes<S, C, J> {
    const NAME: &'static str = S::NAME;
}

/// The user that the [`AuthLayer`](crate::AuthLayer) resolved for a gRPC request
/// (`U` = [`ResolveUser::User`](crate::ResolveUser::User); [`Claims`] with the
/// default resolver).
///
/// # Errors
///
/// [`Status::unauthenticated`] when the request extensions hold no `U`: the
/// service is not behind an `AuthLayer` (or behind an optional one and the request
/// had no credentials), or `U` is not the type the layer resolves.
pub fn user<U, T>(request: &::tonic::Request<T>) -> Result<&U, Status>
where
    U: Send + Sync + 'static,
{
    request
        .extensions()
        .get::<U>()
        .ok_or_else(|| Status::unauthenticated("Not authenticated"))
}

/// The validated claims of a gRPC request (`C` = [`Claims`] by default).
///
/// # Errors
///
/// [`Status::unauthenticated`] when the request extensions hold no `C`; see [`user`].
pub fn claims<C, T>(request: &::tonic::Request<T>) -> Result<&C, Status>
where
    C: Send + Sync + 'static,
{
    user::<C, T>(request)
}

/// The [`Claims`] of a gRPC request, with the default claims type.
///
/// # Errors
///
/// [`Status::unauthenticated`] when the request extensions hold no [`Claims`].
pub fn standard_claims<T>(request: &::tonic::Request<T>) -> Result<&Claims, Status> {
    claims::<Claims, T>(request)
}
