//! `examples/tonic.rs` on a real socket, with real tonic clients.
#![cfg(feature = "tonic")]

use crate::tonic_app as example;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower_jwt_auth::{sign_hs256, Claims};

struct Server {
    channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            example::serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        // The listener is bound: connecting needs no waiting.
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        Self {
            channel,
            stop: Some(stop),
            task,
        }
    }

    async fn health(&self, token: Option<&str>) -> Result<ServingStatus, tonic::Status> {
        let mut client = HealthClient::new(self.channel.clone());
        let mut req = Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(t) = token {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let res = client.check(req).await?;
        Ok(res.into_inner().status())
    }

    async fn stop(mut self) {
        drop(self.channel);
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

fn token(sub: &str, scope: &str) -> String {
    example::token_for(sub, Some(scope)).unwrap()
}

#[tokio::test]
async fn no_token_is_unauthenticated() {
    let server = Server::start().await;
    let status = example::who_am_i(server.channel.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "No bearer token");
    let status = server.health(None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    server.stop().await;
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_the_resolved_user() {
    let server = Server::start().await;
    let t = token("johndoe", "whoami");
    let reply = example::who_am_i(server.channel.clone(), Some(&t))
        .await
        .unwrap();
    assert_eq!(reply.username, "johndoe");
    assert_eq!(reply.full_name, "John Doe");
    assert_eq!(reply.scopes, ["whoami"]);
    assert_eq!(
        server.health(Some(&t)).await.unwrap(),
        ServingStatus::Serving
    );
    server.stop().await;
}

#[tokio::test]
async fn missing_scope_is_permission_denied() {
    let server = Server::start().await;
    let t = token("johndoe", "me items");
    let status = example::who_am_i(server.channel.clone(), Some(&t))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "The access token lacks a required scope");
    // Health needs no scope.
    assert_eq!(
        server.health(Some(&t)).await.unwrap(),
        ServingStatus::Serving
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_expired_and_unknown_user_tokens_are_unauthenticated() {
    let server = Server::start().await;
    let cases = [
        ("a.b.c".to_owned(), "Malformed token"),
        (
            sign_hs256(example::SECRET, &Claims::new("johndoe").with_exp(1)).unwrap(),
            "The access token expired",
        ),
        (
            sign_hs256([1u8; 32], &Claims::new("johndoe").with_exp(4_000_000_000)).unwrap(),
            "Invalid signature",
        ),
        (token("alice", "whoami"), "Unknown user"),
    ];
    for (t, message) in cases {
        let status = example::who_am_i(server.channel.clone(), Some(&t))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{message}");
        assert_eq!(status.message(), message);
        let status = server.health(Some(&t)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{message}");
    }
    server.stop().await;
}
