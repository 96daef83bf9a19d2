//! The layer with tonic: `Server::builder().layer(..)`, `add_service(layer.layer(svc))`,
//! `NamedService` forwarding, on a real socket with real tonic clients.
#![cfg(feature = "tonic")]

use crate::tonic_app as example;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower_jwt_auth::scopes::{RequireScopes, RequireScopesLayer};
use tower_jwt_auth::{AuthError, AuthLayer, Claims, JwtValidator, Style};
use tower_layer::Layer;

fn validator() -> JwtValidator {
    JwtValidator::hs256(example::SECRET).unwrap()
}

/// Compile-time: the layer fits tonic's `Server::builder().layer(..)` and
/// `add_service`, with no `BufferLayer`, with every kind of resolver.
#[allow(dead_code)]
fn layer_fits_tonic_server() {
    let (_r, health) = tonic_health::server::health_reporter();
    // Every service.
    let _: Router<_> = Server::builder()
        .layer(AuthLayer::new(validator()))
        .add_service(health.clone());
    let _: Router<_> = Server::builder()
        .layer(
            AuthLayer::new(validator())
                .style(Style::FastApi)
                .require_scopes(["a"])
                .unwrap()
                .resolve_user(|c: &Claims| {
                    let sub = c.sub().map(str::to_owned);
                    async move { sub.ok_or_else(AuthError::unknown_user) }
                })
                .require_active(|u: &String| !u.is_empty()),
        )
        .add_service(health.clone());
    // One service.
    let _: Router<_> = Server::builder()
        .add_service(AuthLayer::new(validator()).layer(health.clone()))
        .add_service(
            AuthLayer::new(validator()).layer(
                RequireScopesLayer::new(["x"])
                    .unwrap()
                    .layer(example::WhoAmIServer),
            ),
        );
    // Both, and the serve futures are Send (they can be spawned).
    fn assert_send<T: Send>(_: &T) {}
    let fut = Server::builder()
        .layer(AuthLayer::new(validator()))
        .add_service(RequireScopesLayer::new(["x"]).unwrap().layer(health))
        .serve("127.0.0.1:0".parse().unwrap());
    assert_send(&fut);
}

#[test]
fn named_service_is_forwarded() {
    type Wrapped = tower_jwt_auth::Auth<
        RequireScopes<example::WhoAmIServer>,
        Claims,
        tower_jwt_auth::ClaimsAsUser,
        tower_jwt_auth::DefaultRejection,
        tower_jwt_auth::bearer::AnyUser,
    >;
    assert_eq!(<Wrapped as NamedService>::NAME, "demo.WhoAmI");
}

type Stop = Box<dyn FnOnce() -> tokio::task::JoinHandle<()>>;

/// Binds 127.0.0.1:0, serves with `serve` until stopped, connects a channel.
async fn spawn<F, Fut>(serve: F) -> (Channel, Stop)
where
    F: FnOnce(TcpIncoming, tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let fut = serve(TcpIncoming::from(listener), rx);
    let task = tokio::spawn(async move { fut.await.unwrap() });
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let stop: Stop = Box::new(move || {
        let _ = tx.send(());
        task
    });
    (channel, stop)
}

fn check(
    channel: &Channel,
    token: Option<&str>,
) -> impl Future<Output = Result<(), tonic::Status>> {
    let mut client = HealthClient::new(channel.clone());
    let mut req = Request::new(HealthCheckRequest::default());
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    async move { client.check(req).await.map(drop) }
}

#[tokio::test]
async fn per_service_layer_with_scopes() {
    let (_r, health) = tonic_health::server::health_reporter();
    let auth = AuthLayer::new(validator())
        .require_scopes(["health"])
        .unwrap();
    // Health behind the layer; WhoAmI with no layer at all.
    let router = Server::builder()
        .add_service(auth.layer(health))
        .add_service(example::WhoAmIServer);
    let (channel, stop) = spawn(|incoming, rx| {
        router.serve_with_incoming_shutdown(incoming, async {
            let _ = rx.await;
        })
    })
    .await;

    let err = check(&channel, None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let without = example::token_for("johndoe", Some("me")).unwrap();
    let err = check(&channel, Some(&without)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let with = example::token_for("johndoe", Some("health")).unwrap();
    check(&channel, Some(&with)).await.unwrap();

    // The handler of a service without the layer finds no user: a clean
    // `Unauthenticated` from `tower_jwt_auth::tonic::user`, not a panic.
    let err = example::who_am_i(channel.clone(), Some(&with))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "Not authenticated");

    drop(channel);
    stop().await.unwrap();
}

#[tokio::test]
async fn optional_layer_lets_anonymous_grpc_through() {
    let (_r, health) = tonic_health::server::health_reporter();
    let router = Server::builder()
        .layer(AuthLayer::new(validator()).optional())
        .add_service(health);
    let (channel, stop) = spawn(|incoming, rx| {
        router.serve_with_incoming_shutdown(incoming, async {
            let _ = rx.await;
        })
    })
    .await;
    check(&channel, None).await.unwrap();
    let err = check(&channel, Some("a.b.c")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    drop(channel);
    stop().await.unwrap();
}
