//! The standard claims of an access token.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The registered claims of a JWT access token (RFC 7519 §4.1, RFC 9068 §2.2),
/// plus the OAuth 2.0 `scope` claim.
///
/// This is the default claims type of [`AuthLayer`](crate::AuthLayer). Use your
/// own `serde::Deserialize` type with
/// [`AuthLayer::with_claims`](crate::AuthLayer::with_claims) to read other claims.
///
/// Scopes are read from `scope`, a space-separated string (RFC 8693 §4.2, what
/// the FastAPI tutorial issues), and from `scp`, an array of strings (used by
/// some identity providers); [`scopes`](Self::scopes) yields both.
///
/// ```
/// use tower_jwt_auth::Claims;
///
/// let claims: Claims = serde_json::from_str(
///     r#"{"sub":"johndoe","exp":1700000000,"scope":"me items","aud":["api","other"]}"#,
/// ).unwrap();
/// assert_eq!(claims.sub(), Some("johndoe"));
/// assert_eq!(claims.exp(), Some(1_700_000_000));
/// assert!(claims.has_scope("items"));
/// assert!(claims.audience().any(|a| a == "api"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    exp: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    iat: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<Vec<String>>,
}

impl Claims {
    /// Claims for a subject, with everything else unset. Used to issue tokens.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: Some(sub.into()),
            ..Self::default()
        }
    }

    /// `sub`: whom the token is about (for the FastAPI tutorial, the username).
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// `exp`: the expiry time, in seconds since the Unix epoch.
    pub fn exp(&self) -> Option<i64> {
        self.exp
    }

    /// `iat`: the time of issue, in seconds since the Unix epoch.
    pub fn iat(&self) -> Option<i64> {
        self.iat
    }

    /// `nbf`: the time before which the token is not valid.
    pub fn nbf(&self) -> Option<i64> {
        self.nbf
    }

    /// `iss`: the issuer.
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// `aud`: the audiences (the claim may be one string or an array).
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[String]) = match &self.aud {
            None => (None, &[]),
            Some(OneOrMany::One(s)) => (Some(s), &[]),
            Some(OneOrMany::Many(v)) => (None, v),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    pub(crate) fn has_aud(&self) -> bool {
        self.aud.is_some()
    }

    /// `jti`: the token's unique id.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// The `scope` claim as sent: a space-separated string.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The granted scopes, from `scope` and `scp`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let a = self.scope.as_deref().unwrap_or("").split(' ');
        let b = self.scp.iter().flatten().map(String::as_str);
        a.chain(b).filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted (case-sensitive, RFC 6749 §3.3).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Sets `exp`.
    #[must_use]
    pub fn with_exp(mut self, exp: i64) -> Self {
        self.exp = Some(exp);
        self
    }

    /// Sets `iat`.
    #[must_use]
    pub fn with_iat(mut self, iat: i64) -> Self {
        self.iat = Some(iat);
        self
    }

    /// Sets `nbf`.
    #[must_use]
    pub fn with_nbf(mut self, nbf: i64) -> Self {
        self.nbf = Some(nbf);
        self
    }

    /// Sets `iss`.
    #[must_use]
    pub fn with_iss(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets `aud` to one audience.
    #[must_use]
    pub fn with_aud(mut self, aud: impl Into<String>) -> Self {
        self.aud = Some(OneOrMany::One(aud.into()));
        self
    }

    /// Sets `jti`.
    #[must_use]
    pub fn with_jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// Sets `scope`, a space-separated list.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

/// A string or an array of strings (`aud`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(OneOrMany::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a NumericDate (RFC 7519 §2): an integer or a non-integer number of
/// seconds, rounded down. Rejects values that are not finite numbers.
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a NumericDate")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("NumericDate out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v.abs() < 1e15 {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(v.floor() as i64))
            } else {
                Err(E::custom("NumericDate out of range"))
            }
        }
    }
    d.deserialize_any(V)
}
