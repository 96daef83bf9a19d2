//! The keys: what signs the gateway's tokens, and what validates the tokens
//! it is given (its own, and with feature `jwks` those of external issuers).

use std::sync::Arc;

use tower_jwt_auth::rotation::KeyRotation;
use tower_jwt_auth::token::TokenSigner;
use tower_jwt_auth::{Algorithm, JwtValidator, SigningKey};

use super::config::{self, Config, SettingError};

/// The `kid` of the HS256 key when it sits beside external issuers.
#[cfg(feature = "jwks")]
const HS256_KID: &str = "gateway-hs256";

/// The gateway's keys, ready for the token endpoint and the `AuthLayer`.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Signs the tokens of `POST /token`.
    pub signer: TokenSigner,
    /// Validates tokens, with the issuer and audience still to be set.
    pub validator: JwtValidator,
    /// The rotation whose public keys `/.well-known/jwks.json` serves; `None`
    /// with HS256 (an empty set is served).
    pub published: Option<KeyRotation>,
    /// Whether the keys pick the issuer (external issuers): then the
    /// validator must not require `--issuer` of every token.
    pub by_issuer: bool,
    /// What the external key sources report, for `/metrics` (none without
    /// external issuers).
    pub sources: Option<SourcesFn>,
}

/// Reads the external key sources' counters and key ages.
#[derive(Clone)]
pub struct SourcesFn(pub Arc<dyn Fn() -> Vec<KeySourceSample> + Send + Sync>);

impl std::fmt::Debug for SourcesFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourcesFn")
    }
}

/// One external key source, as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySourceSample {
    /// The issuer (or the JWKS URL's issuer).
    pub issuer: String,
    /// Fetches that loaded a key set.
    pub fetch_success: u64,
    /// Fetches that failed.
    pub fetch_failed: u64,
    /// Seconds since the keys in use were fetched; `None` before the first.
    pub key_age: Option<f64>,
}

fn core(config: &Config, setting: config::Setting, e: impl std::fmt::Display) -> SettingError {
    SettingError::new(setting, config.source(setting), e.to_string(), "see --help")
}

impl Keys {
    /// The keys of `config` when it names no external issuer.
    ///
    /// # Errors
    ///
    /// A [`SettingError`] for a key the core refuses, or for external issuers
    /// (those need [`Keys::load`]).
    pub fn local(config: &Config) -> Result<Self, SettingError> {
        if !config.jwks_urls.is_empty() || !config.issuer_urls.is_empty() {
            return Err(core(
                config,
                config::JWKS_URL,
                "external issuers are loaded by Gateway::load",
            ));
        }
        match &config.signing_key {
            Some(key) => Ok(Self {
                signer: key.rotation.clone().into(),
                validator: key
                    .rotation
                    .validator()
                    .map_err(|e| core(config, config::SIGNING_KEY, e))?,
                published: Some(key.rotation.clone()),
                by_issuer: false,
                sources: None,
            }),
            None => {
                let secret = config.secret.bytes();
                Ok(Self {
                    signer: SigningKey::hmac(Algorithm::HS256, secret)
                        .map_err(|e| core(config, config::SECRET, e))?
                        .into(),
                    validator: JwtValidator::hs256(secret)
                        .map_err(|e| core(config, config::SECRET, e))?,
                    published: None,
                    by_issuer: false,
                    sources: None,
                })
            }
        }
    }

    /// The keys of `config`, fetching those of external issuers first.
    ///
    /// # Errors
    ///
    /// A [`SettingError`] for a key the core refuses, or for external keys
    /// that cannot be loaded.
    pub async fn load(config: &Config) -> Result<Self, SettingError> {
        if config.jwks_urls.is_empty() && config.issuer_urls.is_empty() {
            return Self::local(config);
        }
        #[cfg(feature = "jwks")]
        {
            remote(config).await
        }
        #[cfg(not(feature = "jwks"))]
        {
            Err(SettingError::new(
                config::JWKS_URL,
                config.source(config::JWKS_URL),
                "this gateway was built without the `jwks` feature",
                "rebuild with the default features (the `jwks` feature)",
            ))
        }
    }
}

/// The gateway's own keys as the local issuer beside external ones.
#[cfg(feature = "jwks")]
async fn remote(config: &Config) -> Result<Keys, SettingError> {
    use tower_jwt_auth::jwks::{RemoteKeys, ASYMMETRIC_ALGORITHMS};
    use tower_jwt_auth::rotation::KeyPair;

    let Some(issuer) = &config.issuer else {
        return Err(SettingError::new(
            config::JWKS_URL,
            config.source(config::JWKS_URL),
            "external issuers need the gateway's own issuer",
            "set --issuer (GATEWAY_ISSUER)",
        ));
    };
    let (rotation, published) = match &config.signing_key {
        Some(key) => (key.rotation.clone(), true),
        None => {
            let pair = KeyPair::hmac(Algorithm::HS256, HS256_KID, config.secret.bytes())
                .map_err(|e| core(config, config::SECRET, e))?;
            (KeyRotation::new(pair), false)
        }
    };
    let mut builder = RemoteKeys::builder().local_issuer(issuer.clone(), rotation.clone());
    for (iss, url) in &config.jwks_urls {
        builder = builder.issuer_jwks_url(iss.clone(), url.clone());
    }
    for iss in &config.issuer_urls {
        builder = builder.issuer(iss.clone());
    }
    let setting = if config.jwks_urls.is_empty() {
        config::ISSUER_URL
    } else {
        config::JWKS_URL
    };
    let keys = builder.build().await.map_err(|e| {
        SettingError::new(
            setting,
            config.source(setting),
            format!("cannot load the external keys: {e}"),
            "check that each URL is reachable and serves a JWK Set (or, for --issuer-url, \
             an OpenID Connect discovery document); plain http is accepted for loopback hosts only",
        )
    })?;
    let mut algorithms = ASYMMETRIC_ALGORITHMS.to_vec();
    if !published {
        algorithms.push(Algorithm::HS256);
    }
    let sources = {
        let keys = keys.clone();
        SourcesFn(Arc::new(move || {
            keys.sources()
                .into_iter()
                .map(|s| KeySourceSample {
                    issuer: s.issuer.unwrap_or_default(),
                    fetch_success: s.stats.fetch_success,
                    fetch_failed: s.stats.fetch_failed,
                    key_age: s.key_age.map(|a| a.as_secs_f64()),
                })
                .collect()
        }))
    };
    let validator =
        JwtValidator::from_source(keys, algorithms).map_err(|e| core(config, setting, e))?;
    Ok(Keys {
        signer: rotation.clone().into(),
        validator,
        published: published.then_some(rotation),
        by_issuer: true,
        sources: Some(sources),
    })
}
