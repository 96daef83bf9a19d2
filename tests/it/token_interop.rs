//! Interop with the FastAPI tutorial's Python stack, with real argon2
//! parameters: the tutorial's hash, PyJWT decoding our tokens, and pwdlib
//! hashes verifying both ways.
//!
//! The Python tests need `python3` with `pyjwt` and `pwdlib[argon2]`
//! (`pip install pyjwt 'pwdlib[argon2]'`). Without them they print `SKIPPED`
//! and pass, except in CI (`CI` set), where they fail.
#![cfg(feature = "token")]

use crate::token_common::*;
use http::StatusCode;
use tower_jwt_auth::token::{
    MemoryStore, PasswordHasher, StoredUser, Throttle, TokenEndpoint, UserProfile,
};

/// A password with non-ASCII characters and a space, to check the encodings agree.
const PASSWORD: &str = "pässwörd ✓ 123";

#[tokio::test]
async fn tutorial_hash_verifies_secret() {
    let hasher = PasswordHasher::new();
    assert!(hasher.verify(b"secret", TUTORIAL_HASH).await.unwrap());
    assert!(!hasher.verify(b"Secret", TUTORIAL_HASH).await.unwrap());
    assert!(!hasher.needs_rehash(TUTORIAL_HASH));
}

#[tokio::test]
async fn tutorial_user_logs_in_with_the_default_policy() {
    let store = MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("johndoe"),
        TUTORIAL_HASH,
    ));
    let endpoint = TokenEndpoint::builder(store.clone(), key())
        .throttle(Throttle::disabled())
        .build();
    let server = serve_endpoint(endpoint).await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
    login(&server, "johndoe", "wrong")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Stronger than the policy: kept as is.
    assert_eq!(store.get("johndoe").unwrap().password_hash(), TUTORIAL_HASH);
}

#[tokio::test]
async fn new_hashes_use_the_owasp_policy() {
    let phc = PasswordHasher::new()
        .hash(PASSWORD.as_bytes())
        .await
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(PasswordHasher::new()
        .verify(PASSWORD.as_bytes(), &phc)
        .await
        .unwrap());
}

#[tokio::test]
async fn pyjwt_decodes_an_issued_token() {
    let Some(python) = python() else { return };
    let endpoint = builder(store())
        .issuer("https://auth.example")
        .audience(["api"])
        .build();
    let server = serve_endpoint(endpoint).await;
    let token = post_form(
        &server,
        form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "me items"),
        ]),
    )
    .await
    .token();
    let out = run_python(
        python,
        "import jwt, sys, json\n\
         claims = jwt.decode(sys.argv[1], sys.argv[2], algorithms=['HS256'],\n\
             audience='api', issuer='https://auth.example',\n\
             options={'require': ['exp', 'iat', 'sub', 'jti']})\n\
         print(json.dumps(claims, sort_keys=True))",
        &[&token, SECRET],
    );
    let claims: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "me items");
    assert_eq!(claims["aud"], "api");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
}

#[tokio::test]
async fn pyjwt_decodes_a_fastapi_style_token_like_the_tutorial() {
    let Some(python) = python() else { return };
    let server = serve_endpoint(
        builder(store())
            .style(tower_jwt_auth::Style::FastApi)
            .build(),
    )
    .await;
    let token = login(&server, "johndoe", "secret").await.token();
    // The tutorial's get_current_user: jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM]).
    let out = run_python(
        python,
        "import jwt, sys\n\
         print(jwt.decode(sys.argv[1], sys.argv[2], algorithms=['HS256']).get('sub'))",
        &[&token, SECRET],
    );
    assert_eq!(out, "johndoe");
}

#[tokio::test]
async fn pwdlib_hashes_verify_here() {
    let Some(python) = python() else { return };
    let phc = run_python(
        python,
        "import sys\nfrom pwdlib import PasswordHash\n\
         print(PasswordHash.recommended().hash(sys.argv[1]))",
        &[PASSWORD],
    );
    assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{phc}");
    let hasher = PasswordHasher::new();
    assert!(hasher.verify(PASSWORD.as_bytes(), &phc).await.unwrap());
    assert!(!hasher.verify(b"pAsswOrd", &phc).await.unwrap());

    // And through the endpoint, as a FastAPI user migrating its database would.
    let store = MemoryStore::new().with_user(StoredUser::from_profile(UserProfile::new("py"), phc));
    let server = serve_endpoint(
        TokenEndpoint::builder(store, key())
            .throttle(Throttle::disabled())
            .build(),
    )
    .await;
    assert_eq!(login(&server, "py", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn our_hashes_verify_in_pwdlib() {
    let Some(python) = python() else { return };
    let policy = PasswordHasher::new()
        .hash(PASSWORD.as_bytes())
        .await
        .unwrap();
    let tutorial_params = PasswordHasher::builder()
        .params(65536, 3, 4)
        .unwrap()
        .build()
        .hash(PASSWORD.as_bytes())
        .await
        .unwrap();
    for phc in [&policy, &tutorial_params] {
        let out = run_python(
            python,
            "import sys\nfrom pwdlib import PasswordHash\n\
             h = PasswordHash.recommended()\n\
             print(h.verify(sys.argv[1], sys.argv[2]), h.verify('wrong', sys.argv[2]))",
            &[PASSWORD, phc],
        );
        assert_eq!(out, "True False", "{phc}");
    }
}
