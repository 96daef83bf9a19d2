//! `examples/tutorial_scopes.rs`: FastAPI's "OAuth2 scopes" tutorial, on a real socket
//! with a real HTTP client.

#[path = "../../examples/tutorial_scopes.rs"]
#[allow(dead_code)]
mod tutorial;

use crate::tutorial_common::{
    decode, now, Server, COULD_NOT_VALIDATE, INACTIVE, INCORRECT, JOHNDOE, NOT_AUTHENTICATED,
};
use http::Method;
use tower_jwt_auth::token::Throttle;
use tower_jwt_auth::{sign_hs256, Claims};

const ITEMS: &str = r#"[{"item_id":"Foo","owner":"johndoe"}]"#;
const STATUS_OK: &str = r#"{"status":"ok"}"#;
const NOT_ENOUGH: &str = r#"{"detail":"Not enough permissions"}"#;

const ME: Option<&str> = Some(r#"Bearer scope="me""#);
const ITEMS_ME: Option<&str> = Some(r#"Bearer scope="items me""#);
const BARE: Option<&str> = Some("Bearer");

async fn start() -> Server {
    Server::start(|listener, stop| {
        tutorial::serve(listener, async {
            let _ = stop.await;
        })
    })
    .await
}

fn signed(claims: &Claims) -> String {
    sign_hs256(tutorial::SECRET_KEY, claims).unwrap()
}

#[tokio::test]
async fn the_whole_flow() {
    let server = start().await;
    let login = server
        .login("grant_type=password&username=johndoe&password=secret&scope=me items")
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    let body = login.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = decode(token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["sub"], "johndoe");
    assert_eq!(claims["scope"], "me items");
    let exp = claims["exp"].as_i64().unwrap();
    assert!((exp - now() - 30 * 60).abs() <= 5);

    server
        .get("/users/me/", Some(token))
        .await
        .assert(200, JOHNDOE, None);
    server
        .get("/users/me/items/", Some(token))
        .await
        .assert(200, ITEMS, None);
    server
        .get("/status/", Some(token))
        .await
        .assert(200, STATUS_OK, None);
    server.stop().await;
}

#[tokio::test]
async fn scope_order_in_the_request_does_not_matter() {
    let server = start().await;
    let token = server
        .token("username=johndoe&password=secret&scope=items me")
        .await;
    server
        .get("/users/me/items/", Some(&token))
        .await
        .assert(200, ITEMS, None);
    server.stop().await;
}

#[tokio::test]
async fn only_known_scopes_are_granted() {
    let server = start().await;
    let token = server
        .token("username=johndoe&password=secret&scope=admin me")
        .await;
    assert_eq!(decode(&token).1["scope"], "me");
    server
        .get("/users/me/", Some(&token))
        .await
        .assert(200, JOHNDOE, None);
    server.stop().await;
}

#[tokio::test]
async fn missing_scope_is_401_not_enough_permissions_with_the_route_scopes() {
    let server = start().await;
    let me_only = server
        .token("username=johndoe&password=secret&scope=me")
        .await;
    server
        .get("/users/me/", Some(&me_only))
        .await
        .assert(200, JOHNDOE, None);
    server
        .get("/users/me/items/", Some(&me_only))
        .await
        .assert(401, NOT_ENOUGH, ITEMS_ME);

    let items_only = server
        .token("username=johndoe&password=secret&scope=items")
        .await;
    server
        .get("/users/me/", Some(&items_only))
        .await
        .assert(401, NOT_ENOUGH, ME);
    server
        .get("/users/me/items/", Some(&items_only))
        .await
        .assert(401, NOT_ENOUGH, ITEMS_ME);

    let none = server.token("username=johndoe&password=secret").await;
    server
        .get("/users/me/", Some(&none))
        .await
        .assert(401, NOT_ENOUGH, ME);
    server
        .get("/status/", Some(&none))
        .await
        .assert(200, STATUS_OK, None);
    server.stop().await;
}

#[tokio::test]
async fn scopes_are_case_sensitive() {
    let server = start().await;
    let token = signed(
        &Claims::new("johndoe")
            .with_exp(now() + 600)
            .with_scope("ME ITEMS"),
    );
    server
        .get("/users/me/", Some(&token))
        .await
        .assert(401, NOT_ENOUGH, ME);
    server.stop().await;
}

#[tokio::test]
async fn bad_credentials_are_400_without_a_challenge() {
    let server = start().await;
    for form in [
        "username=johndoe&password=wrong&scope=me",
        "username=nobody&password=secret",
        "username=alice&password=secret",
    ] {
        server.login(form).await.assert(400, INCORRECT, None);
    }
    server.stop().await;
}

#[tokio::test]
async fn no_credentials_are_401_not_authenticated_with_a_bare_challenge() {
    let server = start().await;
    for path in ["/users/me/", "/users/me/items/", "/status/"] {
        server
            .get(path, None)
            .await
            .assert(401, NOT_AUTHENTICATED, BARE);
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_401_could_not_validate_with_the_route_scopes() {
    let server = start().await;
    let far = now() + 3600;
    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        (
            "another secret",
            sign_hs256(
                [9u8; 32],
                &Claims::new("johndoe").with_exp(far).with_scope("me items"),
            )
            .unwrap(),
        ),
        (
            "expired (leeway 0)",
            signed(
                &Claims::new("johndoe")
                    .with_exp(now() - 1)
                    .with_scope("me items"),
            ),
        ),
        (
            "unknown user",
            signed(&Claims::new("bob").with_exp(far).with_scope("me items")),
        ),
        (
            "no sub",
            signed(&Claims::default().with_exp(far).with_scope("me items")),
        ),
    ];
    for (what, token) in cases {
        for (path, challenge) in [
            ("/users/me/", ME),
            ("/users/me/items/", ITEMS_ME),
            ("/status/", BARE),
        ] {
            let a = server.get(path, Some(&token)).await;
            assert_eq!(a.status, 401, "{what} {path}: {a:?}");
            a.assert(401, COULD_NOT_VALIDATE, challenge);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn checks_run_token_user_scopes_active() {
    let server = start().await;
    // alice is disabled; /token does not look at it.
    let without_me = server
        .token("username=alice&password=secretalice&scope=items")
        .await;
    let with_me = server
        .token("username=alice&password=secretalice&scope=me items")
        .await;
    // Without `me`: the scope check comes first.
    server
        .get("/users/me/", Some(&without_me))
        .await
        .assert(401, NOT_ENOUGH, ME);
    // With `me`: then the active check.
    server
        .get("/users/me/", Some(&with_me))
        .await
        .assert(400, INACTIVE, None);
    server
        .get("/users/me/items/", Some(&with_me))
        .await
        .assert(400, INACTIVE, None);
    // /status/ does not check `disabled`.
    server
        .get("/status/", Some(&without_me))
        .await
        .assert(200, STATUS_OK, None);
    // An unknown user fails before the scopes: "Could not validate credentials".
    let bob = signed(&Claims::new("bob").with_exp(now() + 600));
    server
        .get("/users/me/", Some(&bob))
        .await
        .assert(401, COULD_NOT_VALIDATE, ME);
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_like_fastapi() {
    let server = start().await;
    server
        .get("/nope", None)
        .await
        .assert(404, r#"{"detail":"Not Found"}"#, None);
    server
        .send(Method::DELETE, "/status/", &[], "")
        .await
        .assert(405, r#"{"detail":"Method Not Allowed"}"#, None);
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_are_not_throttled_unless_asked() {
    let server = start().await;
    for _ in 0..12 {
        let answer = server
            .login("grant_type=password&username=johndoe&password=wrong")
            .await;
        assert_ne!(answer.status, 429);
    }
    let right = server
        .login("grant_type=password&username=johndoe&password=secret")
        .await;
    assert_eq!(right.status, 200, "as in the tutorial: no throttle");
    server.stop().await;

    // --throttle: the endpoint's default throttle, per (username, client).
    let server = Server::start(|listener, stop| {
        tutorial::serve_with(listener, Throttle::new(), async {
            let _ = stop.await;
        })
    })
    .await;
    for _ in 0..10 {
        server
            .login("grant_type=password&username=johndoe&password=wrong")
            .await;
    }
    let right = server
        .login("grant_type=password&username=johndoe&password=secret")
        .await;
    assert_eq!(right.status, 429, "{}", right.json());
    server.stop().await;
}
