//! The token endpoint over real loopback HTTP: request rules, answers, styles.
#![cfg(feature = "token")]

use std::time::Duration;

use crate::token_common::*;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower_jwt_auth::token::{MemoryStore, PasswordHasher, StoredUser, UserProfile, UserStore};
use tower_jwt_auth::{Algorithm, Claims, JwtValidator, SigningKey, Style, VerifyingKey};

/// A server on a counting store: `finds() == 0` after a request proves it was
/// refused before any lookup and any hashing.
async fn counting_server() -> (TestServer, Counting<MemoryStore>) {
    let store = Counting::new(store());
    let server = serve_endpoint(builder(store.clone()).build()).await;
    (server, store)
}

/// Asserts a 400 `invalid_request` given before any lookup or hashing.
async fn assert_refused_early(body: impl Into<Bytes>, error: &str) {
    let (server, store) = counting_server().await;
    let answer = post_form(&server, body).await;
    answer.assert_error(StatusCode::BAD_REQUEST, error);
    assert_eq!(store.finds(), 0, "the store was consulted");
}

// ---------------------------------------------------------------- success

#[tokio::test]
async fn success_answer_standards_style() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answer = login(&server, "johndoe", "secret").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.assert_no_store();
    let body = answer.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert!(
        body.get("scope").is_none(),
        "no scope requested, none granted"
    );
}

#[tokio::test]
async fn issued_token_has_sub_iat_exp_and_random_jti() {
    let server = serve_endpoint(builder(store()).build()).await;
    let first = login(&server, "johndoe", "secret").await.token();
    let second = login(&server, "johndoe", "secret").await.token();
    let (header, raw) = decode_parts(&first);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    let c = claims(&first);
    assert_eq!(c.sub(), Some("johndoe"));
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 1800);
    assert!(c.scope().is_none());
    assert!(raw.get("iss").is_none() && raw.get("aud").is_none());
    // 16 random bytes, base64url: 22 characters.
    let jti = c.jti().unwrap();
    assert_eq!(jti.len(), 22);
    assert_ne!(Some(jti), claims(&second).jti());
}

#[tokio::test]
async fn ttl_issuer_audience_and_typ_are_configurable() {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_typ("at+jwt")
        .with_kid("k1");
    let endpoint = tower_jwt_auth::token::TokenEndpoint::builder(store(), key)
        .hasher(fast_hasher())
        .ttl(Duration::from_secs(600))
        .unwrap()
        .issuer("https://auth.example")
        .audience(["api"])
        .build();
    let server = serve_endpoint(endpoint).await;
    let answer = login(&server, "johndoe", "secret").await;
    assert_eq!(answer.json()["expires_in"], 600);
    let token = answer.token();
    let (header, raw) = decode_parts(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], "k1");
    assert_eq!(raw["iss"], "https://auth.example");
    assert_eq!(raw["aud"], "api");
    let verifying = VerifyingKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_kid("k1");
    let c: Claims = JwtValidator::from_key(verifying)
        .unwrap()
        .issuer(["https://auth.example"])
        .audience(["api"])
        .validate(&token)
        .unwrap();
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 600);
}

#[tokio::test]
async fn several_audiences_are_an_array() {
    let server = serve_endpoint(builder(store()).audience(["api", "admin"]).build()).await;
    let token = login(&server, "johndoe", "secret").await.token();
    assert_eq!(
        decode_parts(&token).1["aud"],
        serde_json::json!(["api", "admin"])
    );
}

#[test]
fn ttl_under_a_second_is_refused() {
    assert!(builder(store()).ttl(Duration::from_millis(500)).is_err());
}

// ---------------------------------------------------------------- method, type, size

#[tokio::test]
async fn get_is_405_with_allow_post() {
    let (server, store) = counting_server().await;
    let req =
        Request::get(server.url("/token?grant_type=password&username=johndoe&password=secret"))
            .body(full(Bytes::new()))
            .unwrap();
    let answer = send(req).await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(answer.header("allow"), Some("POST"));
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn put_is_405_with_allow_post() {
    let server = serve_endpoint(builder(store()).build()).await;
    let req = Request::put(server.url("/token"))
        .header("content-type", FORM)
        .body(full("grant_type=password&username=johndoe&password=secret"))
        .unwrap();
    let answer = send(req).await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[tokio::test]
async fn json_body_is_invalid_request() {
    let (server, store) = counting_server().await;
    let req = Request::post(server.url("/token"))
        .header("content-type", "application/json")
        .body(full(
            r#"{"grant_type":"password","username":"johndoe","password":"secret"}"#,
        ))
        .unwrap();
    send(req)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn missing_content_type_is_invalid_request() {
    let (server, store) = counting_server().await;
    let req = Request::post(server.url("/token"))
        .body(full("grant_type=password&username=johndoe&password=secret"))
        .unwrap();
    send(req)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn content_type_parameters_and_case_are_accepted() {
    let server = serve_endpoint(builder(store()).build()).await;
    let req = Request::post(server.url("/token"))
        .header(
            "content-type",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        )
        .body(full("grant_type=password&username=johndoe&password=secret"))
        .unwrap();
    assert_eq!(send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn charset_other_than_utf8_is_invalid_request() {
    let (server, store) = counting_server().await;
    let req = Request::post(server.url("/token"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
        )
        .body(full("grant_type=password&username=johndoe&password=secret"))
        .unwrap();
    send(req)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn body_over_the_cap_with_content_length_is_413() {
    let store = Counting::new(store());
    let server = serve_endpoint(builder(store.clone()).max_body_len(1024).build()).await;
    let body = format!(
        "grant_type=password&username=johndoe&password=secret&pad={}",
        "a".repeat(2000)
    );
    post_form(&server, body)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_413() {
    let store = Counting::new(store());
    let server = serve_endpoint(builder(store.clone()).max_body_len(1024).build()).await;
    let req = Request::post(server.url("/token"))
        .header("content-type", FORM)
        .body(Chunked { left: 4, size: 512 }.boxed())
        .unwrap();
    let answer = send(req).await;
    answer.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert_eq!(store.finds(), 0);
}

#[tokio::test]
async fn body_at_the_default_cap_is_read() {
    let server = serve_endpoint(builder(store()).build()).await;
    let prefix = "grant_type=password&username=johndoe&password=secret&pad=";
    let body = format!("{prefix}{}", "a".repeat(16 * 1024 - prefix.len()));
    assert_eq!(body.len(), 16 * 1024);
    assert_eq!(post_form(&server, body).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------- encoding

#[tokio::test]
async fn invalid_percent_encoding_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secr%zzt",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn truncated_percent_escape_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secret%4",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_after_decoding_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=%C3%28",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn raw_invalid_utf8_is_invalid_request() {
    assert_refused_early(
        &b"grant_type=password&username=john\xffdoe&password=secret"[..],
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn percent_encoded_utf8_password_logs_in() {
    let store = MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("jürgen"),
        hash("pässwörd mit leerzeichen"),
    ));
    let server = serve_endpoint(builder(store).build()).await;
    assert_eq!(
        login(&server, "jürgen", "pässwörd mit leerzeichen")
            .await
            .status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- fields

#[tokio::test]
async fn repeated_username_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&username=alice&password=secret",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn repeated_password_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secret&password=other",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn repeated_grant_type_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&grant_type=password&username=johndoe&password=secret",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn repeated_scope_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secret&scope=me&scope=items",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn missing_username_is_invalid_request() {
    assert_refused_early("grant_type=password&password=secret", "invalid_request").await;
}

#[tokio::test]
async fn empty_username_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=&password=secret",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn missing_password_is_invalid_request() {
    assert_refused_early("grant_type=password&username=johndoe", "invalid_request").await;
}

#[tokio::test]
async fn empty_password_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    assert_refused_early("username=johndoe&password=secret", "invalid_request").await;
}

#[tokio::test]
async fn empty_body_is_invalid_request() {
    assert_refused_early("", "invalid_request").await;
}

#[tokio::test]
async fn cr_in_username_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=john%0Ddoe&password=secret",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn lf_in_password_is_invalid_request() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=sec%0Aret",
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn long_password_is_invalid_request() {
    let body = form(&[
        ("grant_type", "password"),
        ("username", "johndoe"),
        ("password", &"x".repeat(1025)),
    ]);
    assert_refused_early(body, "invalid_request").await;
}

#[tokio::test]
async fn password_at_the_cap_is_checked() {
    let store = MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("long"),
        hash(&"x".repeat(1024)),
    ));
    let server = serve_endpoint(builder(store).build()).await;
    assert_eq!(
        login(&server, "long", &"x".repeat(1024)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn long_username_is_invalid_request() {
    let body = form(&[
        ("grant_type", "password"),
        ("username", &"u".repeat(257)),
        ("password", "secret"),
    ]);
    assert_refused_early(body, "invalid_request").await;
}

#[tokio::test]
async fn other_grant_type_is_unsupported_grant_type() {
    assert_refused_early(
        "grant_type=client_credentials&client_id=a&client_secret=b",
        "unsupported_grant_type",
    )
    .await;
}

#[tokio::test]
async fn grant_type_is_case_sensitive() {
    assert_refused_early(
        "grant_type=Password&username=johndoe&password=secret",
        "unsupported_grant_type",
    )
    .await;
}

#[tokio::test]
async fn malformed_scope_is_invalid_scope() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secret&scope=me++items",
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn scope_with_a_quote_is_invalid_scope() {
    assert_refused_early(
        "grant_type=password&username=johndoe&password=secret&scope=me%22",
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn unknown_parameters_and_client_credentials_are_ignored() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answer = post_form(
        &server,
        "foo=bar&grant_type=password&foo=baz&username=johndoe&client_id=spa&client_secret=x&password=secret&&",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn credentials_in_the_query_are_never_read() {
    let (server, store) = counting_server().await;
    let req =
        Request::post(server.url("/token?grant_type=password&username=johndoe&password=secret"))
            .header("content-type", FORM)
            .body(full(Bytes::new()))
            .unwrap();
    send(req)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(store.finds(), 0);
}

// ---------------------------------------------------------------- credentials

#[tokio::test]
async fn wrong_password_is_invalid_grant() {
    let server = serve_endpoint(builder(store()).build()).await;
    login(&server, "johndoe", "wrong")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn unknown_user_is_invalid_grant() {
    let server = serve_endpoint(builder(store()).build()).await;
    login(&server, "nobody", "secret")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn disabled_user_is_invalid_grant_even_with_the_right_password() {
    let server = serve_endpoint(builder(store()).build()).await;
    login(&server, "bob", "builder")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn disabled_user_gets_a_token_without_check_disabled() {
    let server = serve_endpoint(builder(store()).check_disabled(false).build()).await;
    assert_eq!(
        login(&server, "bob", "builder").await.status,
        StatusCode::OK
    );
    // A wrong password is still refused.
    login(&server, "bob", "wrong")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_user_are_byte_identical() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answers = [
        login(&server, "nobody", "secret").await,
        login(&server, "johndoe", "wrong").await,
        login(&server, "bob", "builder").await,
        login(&server, "bob", "wrong").await,
    ];
    let strip = |a: &Answer| {
        let mut h = a.headers.clone();
        h.remove("date");
        (a.status, format!("{h:?}"), a.body.clone())
    };
    for a in &answers[1..] {
        assert_eq!(strip(&answers[0]), strip(a));
    }
    assert_eq!(
        answers[0].body,
        r#"{"error":"invalid_grant","error_description":"Invalid username or password"}"#
    );
}

#[tokio::test]
async fn unknown_user_takes_the_dummy_hash_path() {
    let endpoint = builder(store()).build();
    let hasher = endpoint.hasher().clone();
    let server = serve_endpoint(endpoint).await;
    assert_eq!(hasher.dummy_verifications(), 0);
    login(&server, "nobody", "secret").await;
    assert_eq!(hasher.dummy_verifications(), 1);
    // A known user with a wrong password is verified against its own hash.
    login(&server, "johndoe", "wrong").await;
    assert_eq!(hasher.dummy_verifications(), 1);
    login(&server, "someone-else", "x").await;
    assert_eq!(hasher.dummy_verifications(), 2);
}

#[tokio::test]
async fn unusable_stored_hash_is_invalid_grant_after_dummy_work() {
    let store = MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("legacy"),
        "$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW",
    ));
    let endpoint = builder(store).build();
    let hasher = endpoint.hasher().clone();
    let server = serve_endpoint(endpoint).await;
    login(&server, "legacy", "secret")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(hasher.dummy_verifications(), 1);
}

#[tokio::test]
async fn store_failure_is_503() {
    let server = serve_endpoint(builder(Counting::failing(store())).build()).await;
    login(&server, "johndoe", "secret")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
}

#[tokio::test]
async fn async_store_logs_in() {
    let store = Counting::new(store());
    let server = serve_endpoint(builder(store.clone()).build()).await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
    assert_eq!(store.finds(), 1);
}

// ---------------------------------------------------------------- rehash

fn weak_store() -> MemoryStore {
    // m=8 MiB, t=1: weaker than the 16 MiB, t=1 policy below.
    MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("old"),
        hash("pw"),
    ))
}

fn policy_16m() -> PasswordHasher {
    PasswordHasher::builder()
        .params(16384, 1, 1)
        .unwrap()
        .build()
}

#[tokio::test]
async fn weak_hash_is_replaced_after_a_successful_login() {
    let store = weak_store();
    let server = serve_endpoint(builder(store.clone()).hasher(policy_16m()).build()).await;
    let before = store.get("old").unwrap().password_hash().to_owned();
    assert!(policy_16m().needs_rehash(&before));

    // A failed login changes nothing.
    login(&server, "old", "wrong").await;
    assert_eq!(store.get("old").unwrap().password_hash(), before);

    assert_eq!(login(&server, "old", "pw").await.status, StatusCode::OK);
    let after = store.get("old").unwrap().password_hash().to_owned();
    assert!(
        after.starts_with("$argon2id$v=19$m=16384,t=1,p=1$"),
        "{after}"
    );
    assert!(!policy_16m().needs_rehash(&after));
    // The new hash works.
    assert_eq!(login(&server, "old", "pw").await.status, StatusCode::OK);
}

#[tokio::test]
async fn rehash_on_login_can_be_turned_off() {
    let store = weak_store();
    let server = serve_endpoint(
        builder(store.clone())
            .hasher(policy_16m())
            .rehash_on_login(false)
            .build(),
    )
    .await;
    let before = store.get("old").unwrap().password_hash().to_owned();
    assert_eq!(login(&server, "old", "pw").await.status, StatusCode::OK);
    assert_eq!(store.get("old").unwrap().password_hash(), before);
}

#[tokio::test]
async fn update_hash_default_is_a_no_op() {
    struct Plain(MemoryStore);
    impl UserStore for Plain {
        type Profile = UserProfile;
        async fn find(&self, username: &str) -> tower_jwt_auth::token::Lookup<UserProfile> {
            self.0.find(username).await
        }
    }
    let store = weak_store();
    let server = serve_endpoint(builder(Plain(store.clone())).hasher(policy_16m()).build()).await;
    let before = store.get("old").unwrap().password_hash().to_owned();
    assert_eq!(login(&server, "old", "pw").await.status, StatusCode::OK);
    assert_eq!(store.get("old").unwrap().password_hash(), before);
}

// ---------------------------------------------------------------- scopes

async fn scoped_login(server: &TestServer, user: &str, password: &str, scope: &str) -> Answer {
    post_form(
        server,
        form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ]),
    )
    .await
}

#[tokio::test]
async fn granted_scopes_are_the_requested_ones_the_user_may_have() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answer = scoped_login(&server, "alice", "wonderland", "items admin me").await;
    assert_eq!(answer.json()["scope"], "items me");
    assert_eq!(claims(&answer.token()).scope(), Some("items me"));
}

#[tokio::test]
async fn scope_is_omitted_when_granted_as_requested() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answer = scoped_login(&server, "alice", "wonderland", "me items").await;
    assert!(answer.json().get("scope").is_none(), "{:?}", answer.json());
    assert_eq!(claims(&answer.token()).scope(), Some("me items"));
}

#[tokio::test]
async fn scope_is_empty_when_nothing_requested_can_be_granted() {
    let server = serve_endpoint(builder(store()).build()).await;
    let answer = scoped_login(&server, "johndoe", "secret", "me").await;
    assert_eq!(answer.json()["scope"], "");
    assert_eq!(claims(&answer.token()).scope(), None);
}

#[tokio::test]
async fn known_scopes_restrict_the_grant() {
    let server = serve_endpoint(builder(store()).known_scopes(["me"]).unwrap().build()).await;
    let answer = scoped_login(&server, "alice", "wonderland", "me items").await;
    assert_eq!(answer.json()["scope"], "me");
    assert_eq!(claims(&answer.token()).scope(), Some("me"));
}

#[test]
fn invalid_known_scope_is_a_config_error() {
    assert!(builder(store()).known_scopes(["has space"]).is_err());
}

// ---------------------------------------------------------------- FastAPI style

#[tokio::test]
async fn fastapi_success_body_is_the_tutorials() {
    let server = serve_endpoint(builder(store()).style(Style::FastApi).build()).await;
    let answer = login(&server, "johndoe", "secret").await;
    answer.assert_no_store();
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(claims(&answer.token()).sub(), Some("johndoe"));
}

#[tokio::test]
async fn fastapi_bad_credentials_are_401_with_bearer_challenge() {
    let server = serve_endpoint(builder(store()).style(Style::FastApi).build()).await;
    for (user, password) in [("johndoe", "wrong"), ("nobody", "secret")] {
        let answer = login(&server, user, password).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        answer.assert_no_store();
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            answer.body,
            r#"{"detail":"Incorrect username or password"}"#
        );
    }
}

#[tokio::test]
async fn fastapi_scopes_tutorial_answers_400_without_challenge() {
    let endpoint = builder(store())
        .style(Style::FastApi)
        .bad_credentials_status(StatusCode::BAD_REQUEST)
        .unwrap()
        .build();
    let server = serve_endpoint(endpoint).await;
    let answer = login(&server, "johndoe", "wrong").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.header("www-authenticate").is_none());
    assert_eq!(
        answer.body,
        r#"{"detail":"Incorrect username or password"}"#
    );
}

#[tokio::test]
async fn fastapi_style_lets_grant_type_be_absent() {
    let server = serve_endpoint(builder(store()).style(Style::FastApi).build()).await;
    let answer = post_form(&server, "username=johndoe&password=secret").await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn fastapi_style_splits_scopes_on_any_whitespace() {
    let server = serve_endpoint(builder(store()).style(Style::FastApi).build()).await;
    let answer = post_form(
        &server,
        "username=alice&password=wonderland&scope=+me++items+",
    )
    .await;
    assert_eq!(claims(&answer.token()).scope(), Some("me items"));
}

#[tokio::test]
async fn fastapi_style_other_refusals_carry_detail() {
    let server = serve_endpoint(builder(store()).style(Style::FastApi).build()).await;
    let answer = post_form(&server, "username=johndoe").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    answer.assert_no_store();
    assert_eq!(answer.json()["detail"], "Missing parameter: password");
    let req = Request::get(server.url("/token"))
        .body(full(Bytes::new()))
        .unwrap();
    let answer = send(req).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.body, r#"{"detail":"Method Not Allowed"}"#);
}

#[tokio::test]
async fn standards_style_with_401_adds_a_challenge() {
    let endpoint = builder(store())
        .bad_credentials_status(StatusCode::UNAUTHORIZED)
        .unwrap()
        .build();
    let server = serve_endpoint(endpoint).await;
    let answer = login(&server, "johndoe", "wrong").await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "invalid_grant");
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
}

#[test]
fn bad_credentials_status_must_be_400_or_401() {
    assert!(builder(store())
        .bad_credentials_status(StatusCode::FORBIDDEN)
        .is_err());
}

// ---------------------------------------------------------------- service contract

#[test]
fn endpoint_is_clone_send_sync_and_debug_hides_secrets() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<tower_jwt_auth::token::TokenEndpoint<MemoryStore>>();
    let endpoint = builder(store()).build();
    let debug = format!("{endpoint:?}");
    assert!(!debug.contains("$argon2"), "{debug}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[tokio::test]
async fn works_in_process_with_any_body_type() {
    use tower::ServiceExt;
    let endpoint = builder(store()).build();
    let req = Request::post("/token")
        .header("content-type", FORM)
        .body(http_body_util::Full::new(Bytes::from(
            "grant_type=password&username=johndoe&password=secret",
        )))
        .unwrap();
    let res = endpoint.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A body whose error type is not `std::error::Error`, failing mid-read.
    let req = Request::post("/token")
        .header("content-type", FORM)
        .body(FailingBody)
        .unwrap();
    let res = endpoint.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("Could not read the request body"));
}

/// A body that fails at once, with an error that is not `std::error::Error`.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, &'static str>>> {
        std::task::Poll::Ready(Some(Err("connection reset")))
    }
}
