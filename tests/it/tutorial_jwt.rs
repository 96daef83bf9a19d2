//! `examples/tutorial_jwt.rs`: FastAPI's "OAuth2 with Password (and hashing), Bearer
//! with JWT tokens", on a real socket with a real HTTP client.

#[path = "../../examples/tutorial_jwt.rs"]
#[allow(dead_code)]
mod tutorial;

use crate::tutorial_common::{
    decode, now, Server, COULD_NOT_VALIDATE, INACTIVE, INCORRECT, JOHNDOE, NOT_AUTHENTICATED,
};
use http::Method;
use tower_jwt_auth::token::Throttle;
use tower_jwt_auth::{sign_hs256, Claims};

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
        .login("grant_type=password&username=johndoe&password=secret")
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.headers["content-type"], "application/json");
    let body = login.json();
    // Exactly FastAPI's `Token` model.
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap();

    let (header, claims) = decode(token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["sub"], "johndoe");
    let exp = claims["exp"].as_i64().unwrap();
    let start = now();
    assert!((exp - start - 30 * 60).abs() <= 5, "exp {exp} now {start}");
    // PyJWT with the tutorial's secret would accept it: HS256 over the secret.
    let me = server.get("/users/me/", Some(token)).await;
    me.assert(200, JOHNDOE, None);
    let items = server.get("/users/me/items/", Some(token)).await;
    items.assert(200, r#"[{"item_id":"Foo","owner":"johndoe"}]"#, None);
    server.stop().await;
}

#[tokio::test]
async fn grant_type_may_be_absent_as_with_oauth2_password_request_form() {
    let server = start().await;
    let token = server.token("username=johndoe&password=secret").await;
    server
        .get("/users/me/", Some(&token))
        .await
        .assert(200, JOHNDOE, None);
    server.stop().await;
}

#[tokio::test]
async fn bad_credentials_are_401_with_a_challenge() {
    let server = start().await;
    for form in [
        "username=johndoe&password=wrong",
        "username=johndoe&password=Secret",
        "username=nobody&password=secret",
        "username=alice&password=secret",
    ] {
        server
            .login(form)
            .await
            .assert(401, INCORRECT, Some("Bearer"));
    }
    server.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_ignores_disabled_and_the_routes_answer_inactive_user() {
    let server = start().await;
    let token = server.token("username=alice&password=secretalice").await;
    assert_eq!(decode(&token).1["sub"], "alice");
    server
        .get("/users/me/", Some(&token))
        .await
        .assert(400, INACTIVE, None);
    server
        .get("/users/me/items/", Some(&token))
        .await
        .assert(400, INACTIVE, None);
    server.stop().await;
}

#[tokio::test]
async fn no_credentials_are_401_not_authenticated() {
    let server = start().await;
    for path in ["/users/me/", "/users/me/items/"] {
        server
            .get(path, None)
            .await
            .assert(401, NOT_AUTHENTICATED, Some("Bearer"));
        // Another scheme is no bearer credentials either.
        server
            .send(
                Method::GET,
                path,
                &[("authorization", "Basic am9obmRvZTpzZWNyZXQ=")],
                "",
            )
            .await
            .assert(401, NOT_AUTHENTICATED, Some("Bearer"));
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_401_could_not_validate_credentials() {
    let server = start().await;
    let far = now() + 3600;
    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("three dots", "a.b.c".to_owned()),
        (
            "another secret",
            sign_hs256([9u8; 32], &Claims::new("johndoe").with_exp(far)).unwrap(),
        ),
        (
            "expired a second ago (leeway 0)",
            signed(&Claims::new("johndoe").with_exp(now() - 1)),
        ),
        ("unknown user", signed(&Claims::new("bob").with_exp(far))),
        ("no sub", signed(&Claims::default().with_exp(far))),
    ];
    for (what, token) in cases {
        for path in ["/users/me/", "/users/me/items/"] {
            let a = server.get(path, Some(&token)).await;
            assert_eq!(a.status, 401, "{what} {path}: {a:?}");
            a.assert(401, COULD_NOT_VALIDATE, Some("Bearer"));
        }
    }
    // A token of the token endpoint, tampered with.
    let token = server.token("username=johndoe&password=secret").await;
    let tampered = format!("{}x", &token[..token.len() - 1]);
    server
        .get("/users/me/", Some(&tampered))
        .await
        .assert(401, COULD_NOT_VALIDATE, Some("Bearer"));
    server.stop().await;
}

#[tokio::test]
async fn a_token_from_another_app_with_the_same_secret_is_accepted() {
    // What FastAPI's `create_access_token` issues: {"sub": ..., "exp": ...}.
    let server = start().await;
    let token = signed(&Claims::new("johndoe").with_exp(now() + 60));
    server
        .get("/users/me/", Some(&token))
        .await
        .assert(200, JOHNDOE, None);
    server.stop().await;
}

#[tokio::test]
async fn malformed_token_requests_are_refused_in_fastapi_style() {
    let server = start().await;
    let a = server
        .send(
            Method::GET,
            "/users/me/",
            &[("authorization", "Bearer")],
            "",
        )
        .await;
    // FastAPI decodes the empty token and fails: "Could not validate credentials".
    a.assert(401, COULD_NOT_VALIDATE, Some("Bearer"));
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
        .send(Method::POST, "/users/me/", &[], "")
        .await
        .assert(405, r#"{"detail":"Method Not Allowed"}"#, None);
    let a = server.get("/token", None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");
    server.stop().await;
}

#[tokio::test]
async fn malformed_logins_are_400_with_a_detail() {
    let server = start().await;
    for form in [
        "",
        "username=johndoe",
        "password=secret",
        "username=johndoe&password=secret&grant_type=client_credentials",
    ] {
        let a = server.login(form).await;
        assert_eq!(a.status, 400, "{form}: {a:?}");
        assert!(a.json()["detail"].is_string(), "{form}: {a:?}");
        assert_eq!(a.challenge(), None);
    }
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
