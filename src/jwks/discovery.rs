//! OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: from an issuer to its `jwks_uri`.

use http::Uri;
use serde::Deserialize;

use super::client::{check_url, HttpClient};
use super::error::{JwksError, JwksErrorKind};
use super::Config;

/// The discovery documents to try for `issuer`, in order: OpenID Connect's
/// `{issuer}/.well-known/openid-configuration`, then RFC 8414's
/// `{origin}/.well-known/oauth-authorization-server{path}`.
pub(crate) fn well_known_urls(issuer: &Uri) -> [String; 2] {
    let scheme = issuer.scheme_str().unwrap_or("https");
    let authority = issuer.authority().map_or("", |a| a.as_str());
    let path = issuer.path().trim_end_matches('/');
    [
        format!("{scheme}://{authority}{path}/.well-known/openid-configuration"),
        format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}"),
    ]
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
}

/// Fetches the issuer's metadata and returns its checked `jwks_uri`.
pub(crate) async fn discover(
    client: &HttpClient,
    issuer: &str,
    config: &Config,
) -> Result<Uri, JwksError> {
    let issuer_uri = check_url(issuer, config.allow_http)?;
    let mut last = None;
    for url in well_known_urls(&issuer_uri) {
        let uri = check_url(&url, config.allow_http)?;
        match client
            .get(&uri, config.fetch_timeout, config.max_response_size)
            .await
        {
            Ok(fetched) => return jwks_uri(&fetched.body, issuer, config).map_err(|e| e.at(&uri)),
            // Not there: try the other form.
            Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("two URLs were tried"))
}

fn jwks_uri(body: &[u8], issuer: &str, config: &Config) -> Result<Uri, JwksError> {
    let metadata: Metadata = serde_json::from_slice(body).map_err(|e| {
        JwksError::new(JwksErrorKind::Malformed, "not a discovery document").with_source(e)
    })?;
    // OpenID Connect Discovery §4.3, RFC 8414 §3.3: the same issuer, exactly.
    if metadata.issuer != issuer {
        return Err(JwksError::new(
            JwksErrorKind::Discovery,
            format!(
                "the document names the issuer {:?}, not {issuer:?}",
                metadata.issuer.chars().take(200).collect::<String>()
            ),
        ));
    }
    let url = metadata
        .jwks_uri
        .ok_or_else(|| JwksError::new(JwksErrorKind::Discovery, "the document has no jwks_uri"))?;
    check_url(&url, config.allow_http)
        .map_err(|e| JwksError::new(JwksErrorKind::Discovery, format!("unusable jwks_uri: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_forms() {
        let [oidc, oauth] = well_known_urls(&"https://idp.example/realms/a/".parse().unwrap());
        assert_eq!(
            oidc,
            "https://idp.example/realms/a/.well-known/openid-configuration"
        );
        assert_eq!(
            oauth,
            "https://idp.example/.well-known/oauth-authorization-server/realms/a"
        );
        let [oidc, oauth] = well_known_urls(&"http://127.0.0.1:9/".parse().unwrap());
        assert_eq!(oidc, "http://127.0.0.1:9/.well-known/openid-configuration");
        assert_eq!(
            oauth,
            "http://127.0.0.1:9/.well-known/oauth-authorization-server"
        );
    }
}
