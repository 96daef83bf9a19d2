//! The library's integration tests, one binary (one link of aws-lc, tonic and
//! axum instead of one per file): each module was a `tests/*.rs` file.
//!
//! Modules that need an optional feature are compiled only with it, so
//! `cargo test` works with any feature set; CI runs `--all-features`.

// Shared helpers.
/// Keys, tokens and services shared by the layer tests.
mod common;
/// A JWKS server with hit counters.
#[cfg(feature = "jwks")]
mod jwks_server;
/// Test keys and helpers of the `jwk_*` and `jwks_*` tests.
mod keys;
/// The token endpoint on loopback, shared by the `token_*` tests.
#[cfg(feature = "token")]
mod token_common;
/// A client for the tutorial apps.
#[cfg(all(feature = "axum", feature = "token"))]
mod tutorial_common;

/// `examples/tonic.rs`, used by the `tonic_*` tests.
#[cfg(feature = "tonic")]
#[path = "../../examples/tonic.rs"]
#[allow(dead_code)]
mod tonic_app;

// The tests.
mod axum_extractors;
mod hyper_example;
mod interop_pyjwt;
mod jose_strict;
mod jwk_algorithms;
mod jwk_rotation;
#[cfg(feature = "jwks")]
mod jwks_discovery;
#[cfg(feature = "jwks")]
mod jwks_remote;
mod key_source;
mod layer_backend;
mod layer_claims;
mod layer_credentials;
mod layer_jwt;
mod layer_resolver;
mod layer_responses;
mod layer_scopes;
mod layer_tower;
#[cfg(feature = "jwks")]
mod oidc_provider;
mod servers;
mod token_axum;
mod token_endpoint;
mod token_hash_password;
mod token_interop;
mod token_roundtrip;
mod token_throttle;
mod token_users_file;
mod tonic_example;
mod tonic_layer;
#[cfg(all(feature = "axum", feature = "token"))]
mod tutorial_jwt;
#[cfg(all(feature = "axum", feature = "token"))]
mod tutorial_scopes;
