//! With no upstream, the gateway answers the FastAPI tutorial's own routes
//! itself, behind the same `AuthLayer`:
//!
//! - `GET /users/me/`: the current user (`{"username", "email", "full_name", "disabled"}`);
//! - `GET /users/me/items/`: `[{"item_id": "Foo", "owner": "<username>"}]`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

use super::users::Profile;

/// Answers a request that passed authentication.
pub fn handle<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    let Some(user) = req.extensions().get::<Arc<Profile>>() else {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"detail":"No user"}"#.into(),
        );
    };
    let route = match req.uri().path() {
        "/users/me/" | "/users/me" => Route::Me,
        "/users/me/items/" | "/users/me/items" => Route::Items,
        _ => return json(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#.into()),
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"detail":"Method Not Allowed"}"#.into(),
        );
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let body = match route {
        Route::Me => serde_json::to_vec(&user.user),
        Route::Items => serde_json::to_vec(&serde_json::json!([
            { "item_id": "Foo", "owner": user.user.username }
        ])),
    }
    .expect("serializing a profile cannot fail");
    json(StatusCode::OK, body.into())
}

enum Route {
    Me,
    Items,
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
