//! Settings: command-line flags, environment variables, an optional TOML file
//! and defaults, in that order of precedence, validated once at start.
//!
//! Every invalid value is refused with a [`SettingError`] that names the
//! setting, where the value came from, what is wrong and how to fix it; `main`
//! prints them and exits with status 2.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use http::uri::{Authority, Scheme};
use http::{HeaderName, Uri};
use serde::Deserialize;
use tower_jwt_auth::rotation::{KeyPair, KeyRotation};
use tower_jwt_auth::{Algorithm, DefaultRejection, Style};

use super::paths;

/// The environment variable that holds the signing secret. It is never a flag,
/// so that the secret does not show in the process list.
pub const SECRET_ENV: &str = "JWT_SECRET";

/// The minimum secret length: the HS256 output size (RFC 7518 §3.2).
pub const MIN_SECRET_LEN: usize = 32;

/// An authenticating reverse proxy: JWT Bearer authentication in front of any
/// HTTP service, with an OAuth2 password-grant `POST /token` endpoint.
///
/// Every flag can also be set with the environment variable shown, or in the
/// TOML file given with --config (keys are the flag names with `_` for `-`).
/// Precedence: flag, then environment, then file, then default.
///
/// The HS256 signing secret is read from the JWT_SECRET environment variable
/// only (at least 32 bytes; `openssl rand -hex 32` makes one). Without it a
/// random secret is generated at each start.
#[derive(Parser, Debug)]
#[command(name = "gateway", version, about, long_about)]
pub struct Cli {
    /// TOML config file (keys as the flags: listen, upstream, users, ...).
    #[arg(long, env = "GATEWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "GATEWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The service to protect, as http://host:port[/base-path]. Without it the
    /// gateway serves the FastAPI tutorial's GET /users/me/ and /users/me/items/.
    #[arg(long, env = "GATEWAY_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,
    /// Users file (TOML or JSON). Without it the built-in demo users are used
    /// (johndoe/secret, and alice, disabled).
    #[arg(long, env = "GATEWAY_USERS", value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Lifetime of issued tokens, such as 30m or 3600s [default: 30m].
    #[arg(long, env = "GATEWAY_TOKEN_TTL", value_name = "DURATION")]
    pub token_ttl: Option<String>,
    /// Realm of the WWW-Authenticate challenge [default: api].
    #[arg(long, env = "GATEWAY_REALM", value_name = "REALM")]
    pub realm: Option<String>,
    /// Issuer (`iss`) put into tokens and required of them.
    #[arg(long, env = "GATEWAY_ISSUER", value_name = "ISS")]
    pub issuer: Option<String>,
    /// Audience (`aud`) put into tokens and required of them.
    #[arg(long, env = "GATEWAY_AUDIENCE", value_name = "AUD")]
    pub audience: Option<String>,
    /// Wording of rejections and token errors: standards or fastapi [default: standards].
    #[arg(long, env = "GATEWAY_STYLE", value_name = "STYLE")]
    pub style: Option<String>,
    /// Path prefix forwarded without authentication (repeatable; comma-separated in the env).
    #[arg(
        long = "public",
        env = "GATEWAY_PUBLIC",
        value_name = "PATH_PREFIX",
        value_delimiter = ','
    )]
    pub public: Vec<String>,
    /// Scope required under a path prefix, as PREFIX=SCOPE (repeatable).
    #[arg(
        long = "require-scope",
        env = "GATEWAY_REQUIRE_SCOPE",
        value_name = "PREFIX=SCOPE",
        value_delimiter = ','
    )]
    pub require_scope: Vec<String>,
    /// Sends a token claim upstream in a header, as CLAIM=HEADER (repeatable).
    #[arg(
        long = "claim-header",
        env = "GATEWAY_CLAIM_HEADER",
        value_name = "CLAIM=HEADER",
        value_delimiter = ','
    )]
    pub claim_header: Vec<String>,
    /// Forward the client's Authorization header upstream [default: false].
    #[arg(
        long,
        env = "GATEWAY_FORWARD_AUTHORIZATION",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub forward_authorization: Option<String>,
    /// Time allowed for the upstream's response headers [default: 30s].
    #[arg(long, env = "GATEWAY_UPSTREAM_TIMEOUT", value_name = "DURATION")]
    pub upstream_timeout: Option<String>,
    /// Time allowed to connect to the upstream [default: 5s].
    #[arg(long, env = "GATEWAY_CONNECT_TIMEOUT", value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Largest request body forwarded, such as 64MiB [default: 64MiB].
    #[arg(long, env = "GATEWAY_MAX_BODY", value_name = "SIZE")]
    pub max_body: Option<String>,
    /// How long in-flight requests may run after SIGTERM or Ctrl-C [default: 30s].
    #[arg(long, env = "GATEWAY_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,
    /// Private key (PEM) that signs the gateway's tokens: RSA (2048 bits or
    /// more) for RS256, EC P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA.
    /// Its public key is served at /.well-known/jwks.json. Without it tokens
    /// are signed with HS256 and JWT_SECRET.
    #[arg(long, env = "GATEWAY_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Also accept tokens of issuer ISS verified with the keys at URL, as
    /// ISS=URL (repeatable; comma-separated in the env). Needs --issuer and a
    /// build with `--features jwks`.
    #[arg(
        long = "jwks-url",
        env = "GATEWAY_JWKS_URL",
        value_name = "ISS=URL",
        value_delimiter = ','
    )]
    pub jwks_url: Vec<String>,
    /// Also accept tokens of this issuer, its keys found by OpenID Connect
    /// discovery (repeatable; comma-separated in the env). Needs --issuer and
    /// a build with `--features jwks`.
    #[arg(
        long = "issuer-url",
        env = "GATEWAY_ISSUER_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub issuer_url: Vec<String>,
    /// Address of the admin listener serving /metrics, /healthz and /readyz,
    /// or `off` [default: 127.0.0.1:9100].
    #[arg(long, env = "GATEWAY_ADMIN_LISTEN", value_name = "ADDR|off")]
    pub admin_listen: Option<String>,
    /// Most client connections served at once; more are answered 503
    /// [default: 4096].
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<String>,
    /// Time a client has to send a whole request body [default: 60s].
    #[arg(long, env = "GATEWAY_BODY_TIMEOUT", value_name = "DURATION")]
    pub body_timeout: Option<String>,
    /// Clients whose Forwarded, X-Forwarded-* and X-Real-IP headers are kept,
    /// as CIDR blocks (repeatable; comma-separated in the env) [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "GATEWAY_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<String>,
    /// Merge empty path segments (`//a` is `/a`) instead of refusing them
    /// [default: false].
    #[arg(
        long,
        env = "GATEWAY_MERGE_SLASHES",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub merge_slashes: Option<String>,
    /// Forward client headers with `_` in their names (never those that fold
    /// to a header the gateway sets) [default: false].
    #[arg(
        long,
        env = "GATEWAY_ALLOW_UNDERSCORES_IN_HEADERS",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub allow_underscores_in_headers: Option<String>,
    /// Validate the settings, print them with their sources, and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// The `[…]` keys of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    upstream: Option<String>,
    users: Option<PathBuf>,
    token_ttl: Option<Scalar>,
    realm: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    style: Option<String>,
    public: Option<Vec<String>>,
    require_scope: Option<Vec<String>>,
    claim_header: Option<Vec<String>>,
    forward_authorization: Option<bool>,
    upstream_timeout: Option<Scalar>,
    connect_timeout: Option<Scalar>,
    max_body: Option<Scalar>,
    shutdown_timeout: Option<Scalar>,
    admin_listen: Option<String>,
    max_connections: Option<Scalar>,
    body_timeout: Option<Scalar>,
    trusted_proxy: Option<Vec<String>>,
    merge_slashes: Option<bool>,
    allow_underscores_in_headers: Option<bool>,
    signing_key: Option<PathBuf>,
    jwks_url: Option<Vec<String>>,
    issuer_url: Option<Vec<String>>,
}

/// A duration or size in the file: `"30s"` or a bare number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Str(String),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Str(s) => s,
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File(PathBuf),
    /// The built-in default.
    Default,
}

/// One setting: its flag, environment variable and file key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The clap id (and file key).
    pub id: &'static str,
    /// The long flag, with its dashes.
    pub flag: &'static str,
    /// The environment variable.
    pub env: &'static str,
}

macro_rules! settings {
    ($($name:ident = ($id:literal, $flag:literal, $env:literal);)*) => {
        $(
            #[doc = concat!("The `", $flag, "` setting (`", $env, "`, file key `", $id, "`).")]
            pub const $name: Setting = Setting { id: $id, flag: $flag, env: $env };
        )*
    };
}

settings! {
    CONFIG = ("config", "--config", "GATEWAY_CONFIG");
    LISTEN = ("listen", "--listen", "GATEWAY_LISTEN");
    UPSTREAM = ("upstream", "--upstream", "GATEWAY_UPSTREAM");
    USERS = ("users", "--users", "GATEWAY_USERS");
    SECRET = ("jwt_secret", "(no flag)", "JWT_SECRET");
    TOKEN_TTL = ("token_ttl", "--token-ttl", "GATEWAY_TOKEN_TTL");
    REALM = ("realm", "--realm", "GATEWAY_REALM");
    ISSUER = ("issuer", "--issuer", "GATEWAY_ISSUER");
    AUDIENCE = ("audience", "--audience", "GATEWAY_AUDIENCE");
    STYLE = ("style", "--style", "GATEWAY_STYLE");
    PUBLIC = ("public", "--public", "GATEWAY_PUBLIC");
    REQUIRE_SCOPE = ("require_scope", "--require-scope", "GATEWAY_REQUIRE_SCOPE");
    CLAIM_HEADER = ("claim_header", "--claim-header", "GATEWAY_CLAIM_HEADER");
    FORWARD_AUTHORIZATION = ("forward_authorization", "--forward-authorization", "GATEWAY_FORWARD_AUTHORIZATION");
    UPSTREAM_TIMEOUT = ("upstream_timeout", "--upstream-timeout", "GATEWAY_UPSTREAM_TIMEOUT");
    CONNECT_TIMEOUT = ("connect_timeout", "--connect-timeout", "GATEWAY_CONNECT_TIMEOUT");
    MAX_BODY = ("max_body", "--max-body", "GATEWAY_MAX_BODY");
    SHUTDOWN_TIMEOUT = ("shutdown_timeout", "--shutdown-timeout", "GATEWAY_SHUTDOWN_TIMEOUT");
    SIGNING_KEY = ("signing_key", "--signing-key", "GATEWAY_SIGNING_KEY");
    JWKS_URL = ("jwks_url", "--jwks-url", "GATEWAY_JWKS_URL");
    ISSUER_URL = ("issuer_url", "--issuer-url", "GATEWAY_ISSUER_URL");
    ADMIN_LISTEN = ("admin_listen", "--admin-listen", "GATEWAY_ADMIN_LISTEN");
    MAX_CONNECTIONS = ("max_connections", "--max-connections", "GATEWAY_MAX_CONNECTIONS");
    BODY_TIMEOUT = ("body_timeout", "--body-timeout", "GATEWAY_BODY_TIMEOUT");
    TRUSTED_PROXY = ("trusted_proxy", "--trusted-proxy", "GATEWAY_TRUSTED_PROXY");
    MERGE_SLASHES = ("merge_slashes", "--merge-slashes", "GATEWAY_MERGE_SLASHES");
    ALLOW_UNDERSCORES = ("allow_underscores_in_headers", "--allow-underscores-in-headers", "GATEWAY_ALLOW_UNDERSCORES_IN_HEADERS");
}

/// An invalid setting: which one, from where, what is wrong and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    setting: Setting,
    source: Source,
    problem: String,
    fix: String,
}

impl SettingError {
    /// A refusal of `setting`, whose value came from `source`: what is wrong
    /// and how to fix it.
    pub fn new(
        setting: Setting,
        source: Source,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            setting,
            source,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.setting;
        let from = match &self.source {
            Source::Flag => format!("from {}", s.flag),
            Source::Env => format!("from the {} environment variable", s.env),
            Source::File(p) => format!("from `{}` in {}", s.id, p.display()),
            Source::Default => "the default".to_owned(),
        };
        write!(
            f,
            "invalid {} ({from}): {}\n  fix: {}",
            if s.id == "jwt_secret" { s.env } else { s.flag },
            self.problem,
            self.fix
        )
    }
}

impl std::error::Error for SettingError {}

/// The HS256 secret. It never prints.
#[derive(Clone)]
pub struct Secret {
    bytes: Arc<[u8]>,
    generated: bool,
}

impl Secret {
    /// A secret from bytes the operator gave.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            bytes: bytes.into(),
            generated: false,
        }
    }

    /// 32 random bytes, hex-encoded (64 characters).
    pub fn random() -> Self {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("the OS random number generator failed");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            bytes: hex.into_bytes().into(),
            generated: true,
        }
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether it was generated at start (no `JWT_SECRET`).
    pub fn is_generated(&self) -> bool {
        self.generated
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The largest signing key file read (a 16384-bit RSA PEM is under 13 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The private key of `--signing-key`, in a one-key rotation. It never prints
/// its material.
#[derive(Clone, Debug)]
pub struct SigningKeyFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The key, active; its `kid` is its RFC 7638 thumbprint.
    pub rotation: KeyRotation,
}

impl SigningKeyFile {
    /// Reads a PEM private key and finds its algorithm from its type: RSA is
    /// RS256, EC P-256 ES256, EC P-384 ES384, Ed25519 EdDSA.
    ///
    /// # Errors
    ///
    /// What is wrong, for the operator (never the key's content).
    pub fn load(path: &Path) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(format!(
                "{} is {} bytes, too large for a key",
                path.display(),
                meta.len()
            ));
        }
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&pem);
        let pair = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            KeyPair::rsa_pem(Algorithm::RS256, &pem).map_err(|e| e.to_string())
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            Err(
                "a SEC1 EC key (BEGIN EC PRIVATE KEY): convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key8.pem`"
                    .to_owned(),
            )
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            KeyPair::ed_pem(&pem)
                .or_else(|_| KeyPair::ec_pem(Algorithm::ES256, &pem))
                .or_else(|_| KeyPair::ec_pem(Algorithm::ES384, &pem))
                .or_else(|_| KeyPair::rsa_pem(Algorithm::RS256, &pem))
                .map_err(|e| {
                    // The last attempt was RSA: its error is the useful one
                    // only for an RSA key (such as one under 2048 bits).
                    let e = e.to_string();
                    if e.contains("2048") || e.contains("TooSmall") {
                        "the RSA key is under 2048 bits".to_owned()
                    } else {
                        "not an RSA, EC P-256/P-384 or Ed25519 private key".to_owned()
                    }
                })
        } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            Err("the key is encrypted; give an unencrypted PKCS#8 key".to_owned())
        } else {
            Err("not a PEM private key (no BEGIN PRIVATE KEY line)".to_owned())
        };
        let pair = pair.map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            rotation: KeyRotation::new(pair),
        })
    }
}

/// The upstream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Always `http`.
    pub scheme: Scheme,
    /// `host:port`.
    pub authority: Authority,
    /// A path prefix put before every forwarded path, without a trailing `/`
    /// (empty for none).
    pub base_path: String,
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The service to protect; `None` serves the tutorial routes.
    pub upstream: Option<Upstream>,
    /// The users file; `None` uses the built-in demo users.
    pub users: Option<PathBuf>,
    /// The HS256 signing and verifying secret.
    pub secret: Secret,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Realm of the challenges.
    pub realm: String,
    /// Issuer put into and required of tokens.
    pub issuer: Option<String>,
    /// Audience put into and required of tokens.
    pub audience: Option<String>,
    /// Wording of rejections.
    pub style: Style,
    /// Path prefixes forwarded without authentication, normalized.
    pub public: Vec<String>,
    /// Scopes required under path prefixes.
    pub require_scope: Vec<(String, Vec<String>)>,
    /// Claims sent upstream as headers.
    pub claim_headers: Vec<(String, HeaderName)>,
    /// Whether `Authorization` is forwarded.
    pub forward_authorization: bool,
    /// Time allowed for the upstream's response headers.
    pub upstream_timeout: Duration,
    /// Time allowed to connect to the upstream.
    pub connect_timeout: Duration,
    /// Largest request body forwarded.
    pub max_body: u64,
    /// Time in-flight requests get after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// The private key that signs the gateway's tokens; `None` for HS256.
    pub signing_key: Option<SigningKeyFile>,
    /// External issuers and their JWKS URLs.
    pub jwks_urls: Vec<(String, String)>,
    /// External issuers found by discovery.
    pub issuer_urls: Vec<String>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`); `None` for off.
    pub admin_listen: Option<SocketAddr>,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time a client has to send a whole request body.
    pub body_timeout: Duration,
    /// Clients whose forwarding headers are kept.
    pub trusted_proxies: TrustedProxies,
    /// Merge empty path segments instead of refusing them.
    pub merge_slashes: bool,
    /// Forward client headers with `_` in their names.
    pub allow_underscores_in_headers: bool,
    /// Where each setting came from, by id.
    pub sources: BTreeMap<&'static str, Source>,
}

/// CIDR blocks of the proxies in front of the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `ip` is in one of the blocks (IPv4-mapped IPv6 as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself, unless it is a trusted proxy;
    /// then the right-most address of `X-Forwarded-For` that is not a trusted
    /// proxy (each proxy appends its peer, so only the entries trusted proxies
    /// appended can be believed, read from the right). A malformed entry ends
    /// the walk at the last address known good.
    pub fn client_ip(&self, peer: std::net::IpAddr, headers: &http::HeaderMap) -> std::net::IpAddr {
        let mut client = peer;
        if !self.contains(client) {
            return client;
        }
        let values: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        for item in values.iter().rev().flat_map(|v| v.rsplit(',')) {
            match item.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            upstream: None,
            users: None,
            secret: Secret::random(),
            token_ttl: Duration::from_secs(30 * 60),
            realm: "api".to_owned(),
            issuer: None,
            audience: None,
            style: Style::Standards,
            public: Vec::new(),
            require_scope: Vec::new(),
            claim_headers: Vec::new(),
            forward_authorization: false,
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_body: 64 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            signing_key: None,
            jwks_urls: Vec::new(),
            issuer_urls: Vec::new(),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
            max_connections: 4096,
            body_timeout: Duration::from_secs(60),
            trusted_proxies: TrustedProxies::default(),
            merge_slashes: false,
            allow_underscores_in_headers: false,
            sources: BTreeMap::new(),
        }
    }
}

/// The outcome of reading the command line.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub config: Config,
    /// `--check-config` was given.
    pub check_only: bool,
}

impl Config {
    /// Reads the process's command line, environment and config file.
    ///
    /// `--help`, `--version` and malformed command lines are handled by clap,
    /// which exits (status 2 for a usage error).
    ///
    /// # Errors
    ///
    /// Every invalid setting found.
    pub fn load() -> Result<Loaded, Vec<SettingError>> {
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let secret = std::env::var_os(SECRET_ENV);
        let check_only = cli.check_config;
        Self::from_parts(&cli, &matches, secret.as_deref())
            .map(|config| Loaded { config, check_only })
    }

    /// Builds the settings from parsed flags (with their environment fallbacks
    /// already applied by clap), the secret from the environment, and the file.
    fn from_parts(
        cli: &Cli,
        matches: &ArgMatches,
        secret: Option<&std::ffi::OsStr>,
    ) -> Result<Self, Vec<SettingError>> {
        let mut errors = Vec::new();
        let (file, file_path) = match &cli.config {
            Some(path) => match read_file(path, source_of(matches, CONFIG.id)) {
                Ok(f) => (f, Some(path.clone())),
                Err(e) => return Err(vec![e]),
            },
            None => (FileConfig::default(), None),
        };
        let mut r = Resolver {
            matches,
            file_path: file_path.as_deref(),
            errors: &mut errors,
            config: Config::default(),
        };

        // The signing secret: environment only.
        r.config.secret = match secret {
            None => Secret::random(),
            Some(raw) => {
                r.config.sources.insert(SECRET.id, Source::Env);
                match raw.to_str() {
                    Some(s) if s.len() >= MIN_SECRET_LEN => Secret::new(s.as_bytes()),
                    Some(s) => {
                        r.err(
                            SECRET,
                            Source::Env,
                            format!(
                                "the secret is {} bytes; HS256 needs at least {MIN_SECRET_LEN} (RFC 7518 §3.2)",
                                s.len()
                            ),
                            "generate one with `export JWT_SECRET=$(openssl rand -hex 32)`, or unset JWT_SECRET for a random one",
                        );
                        Secret::random()
                    }
                    None => {
                        r.err(
                            SECRET,
                            Source::Env,
                            "the secret is not valid UTF-8",
                            "generate one with `export JWT_SECRET=$(openssl rand -hex 32)`",
                        );
                        Secret::random()
                    }
                }
            }
        };

        if let Some((v, src)) = r.pick(LISTEN, cli.listen.clone(), file.listen) {
            match v.parse::<SocketAddr>() {
                Ok(a) => r.config.listen = a,
                Err(_) => r.err(
                    LISTEN,
                    src,
                    format!("{v:?} is not an IP address and port"),
                    "use IP:PORT, such as 127.0.0.1:8000 (this machine only) or 0.0.0.0:8000 (all interfaces)",
                ),
            }
        }
        if let Some((v, src)) = r.pick(UPSTREAM, cli.upstream.clone(), file.upstream) {
            match parse_upstream(&v) {
                Ok(u) => r.config.upstream = Some(u),
                Err(problem) => r.err(
                    UPSTREAM,
                    src,
                    format!("{v:?}: {problem}"),
                    "use http://HOST:PORT, optionally with a base path, such as http://127.0.0.1:3000 or http://backend:8080/api",
                ),
            }
        }
        let file_users = file.users.map(|p| relative_to(file_path.as_deref(), p));
        if let Some((v, src)) = r.pick(USERS, cli.users.clone(), file_users) {
            if v.is_file() {
                r.config.users = Some(v);
            } else {
                let problem = if v.exists() {
                    format!("{} is not a regular file", v.display())
                } else {
                    format!("the file {} does not exist", v.display())
                };
                r.err(
                    USERS,
                    src,
                    problem,
                    "give the path of a TOML or JSON users file, or leave the setting out to use the built-in demo users",
                );
            }
        }
        if let Some((v, src)) = r.pick(
            TOKEN_TTL,
            cli.token_ttl.clone(),
            file.token_ttl.map(Scalar::into_string),
        ) {
            match parse_duration(&v) {
                Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(24 * 3600) => {
                    r.config.token_ttl = d;
                }
                Ok(_) => r.err(
                    TOKEN_TTL,
                    src,
                    format!("{v:?} is outside 1s..=24h"),
                    "use a lifetime of one hour or less (RFC 6750 §5.3), such as 30m",
                ),
                Err(e) => r.err(
                    TOKEN_TTL,
                    src,
                    format!("{v:?}: {e}"),
                    "use a duration such as 30m, 900s or 1h",
                ),
            }
        }
        if let Some((v, src)) = r.pick(REALM, cli.realm.clone(), file.realm) {
            if !v.is_empty() && DefaultRejection::new().realm(&v).is_ok() {
                r.config.realm = v;
            } else {
                r.err(
                    REALM,
                    src,
                    format!("{v:?} cannot be put in a challenge"),
                    "use a non-empty realm of printable ASCII without '\"' and '\\' (RFC 6750 §3)",
                );
            }
        }
        for (setting, value, file_value) in [
            (ISSUER, cli.issuer.clone(), file.issuer),
            (AUDIENCE, cli.audience.clone(), file.audience),
        ] {
            if let Some((v, src)) = r.pick(setting, value, file_value) {
                if v.is_empty() || v.chars().any(char::is_control) {
                    r.err(
                        setting,
                        src,
                        format!("{v:?} is empty or has control characters"),
                        "use a non-empty string, such as https://auth.example.com, or leave the setting out",
                    );
                } else if setting == ISSUER {
                    r.config.issuer = Some(v);
                } else {
                    r.config.audience = Some(v);
                }
            }
        }
        if let Some((v, src)) = r.pick(STYLE, cli.style.clone(), file.style) {
            match v.parse::<Style>() {
                Ok(s) => r.config.style = s,
                Err(_) => r.err(
                    STYLE,
                    src,
                    format!("unknown style {v:?}"),
                    "use `standards` (RFC 6749/6750 answers) or `fastapi` (the FastAPI tutorial's answers)",
                ),
            }
        }
        if let Some((values, src)) = r.pick_list(PUBLIC, &cli.public, file.public) {
            for v in values {
                match parse_prefix(&v) {
                    Ok(p) => {
                        if !r.config.public.contains(&p) {
                            r.config.public.push(p);
                        }
                    }
                    Err(problem) => {
                        r.err(PUBLIC, src.clone(), format!("{v:?}: {problem}"), PREFIX_FIX)
                    }
                }
            }
        }
        if let Some((values, src)) =
            r.pick_list(REQUIRE_SCOPE, &cli.require_scope, file.require_scope)
        {
            for v in values {
                match parse_scope_rule(&v) {
                    Ok((prefix, scopes)) => {
                        if r.config.public.contains(&prefix) {
                            r.err(
                                REQUIRE_SCOPE,
                                src.clone(),
                                format!("{prefix:?} is also a public prefix"),
                                "a prefix is either public or scoped: drop it from one of --public and --require-scope",
                            );
                            continue;
                        }
                        match r.config.require_scope.iter_mut().find(|(p, _)| *p == prefix) {
                            Some((_, existing)) => {
                                for s in scopes {
                                    if !existing.contains(&s) {
                                        existing.push(s);
                                    }
                                }
                            }
                            None => r.config.require_scope.push((prefix, scopes)),
                        }
                    }
                    Err(problem) => r.err(
                        REQUIRE_SCOPE,
                        src.clone(),
                        format!("{v:?}: {problem}"),
                        "use PREFIX=SCOPE, such as /admin=admin or \"/items=items:read items:write\" (scopes are RFC 6749 §3.3 scope-tokens)",
                    ),
                }
            }
        }
        if let Some((values, src)) = r.pick_list(CLAIM_HEADER, &cli.claim_header, file.claim_header)
        {
            for v in values {
                match parse_claim_header(&v) {
                    Ok((claim, header)) => {
                        if r.config.claim_headers.iter().any(|(_, h)| *h == header) {
                            r.err(
                                CLAIM_HEADER,
                                src.clone(),
                                format!("the header {header} is mapped twice"),
                                "map each header from one claim only",
                            );
                        } else {
                            r.config.claim_headers.push((claim, header));
                        }
                    }
                    Err(problem) => r.err(
                        CLAIM_HEADER,
                        src.clone(),
                        format!("{v:?}: {problem}"),
                        "use CLAIM=HEADER, such as email=X-Auth-Email",
                    ),
                }
            }
        }
        let file_fwd = file.forward_authorization.map(|b| b.to_string());
        if let Some((v, src)) = r.pick(
            FORWARD_AUTHORIZATION,
            cli.forward_authorization.clone(),
            file_fwd,
        ) {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => r.config.forward_authorization = true,
                "false" | "0" | "no" | "off" => r.config.forward_authorization = false,
                _ => r.err(
                    FORWARD_AUTHORIZATION,
                    src,
                    format!("{v:?} is not a boolean"),
                    "use true or false",
                ),
            }
        }
        for (setting, value, file_value) in [
            (
                MERGE_SLASHES,
                cli.merge_slashes.clone(),
                file.merge_slashes.map(|b| b.to_string()),
            ),
            (
                ALLOW_UNDERSCORES,
                cli.allow_underscores_in_headers.clone(),
                file.allow_underscores_in_headers.map(|b| b.to_string()),
            ),
        ] {
            let Some((v, src)) = r.pick(setting, value, file_value) else {
                continue;
            };
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    r.err(
                        setting,
                        src,
                        format!("{v:?} is not a boolean"),
                        "use true or false",
                    );
                    continue;
                }
            };
            if setting == MERGE_SLASHES {
                r.config.merge_slashes = b;
            } else {
                r.config.allow_underscores_in_headers = b;
            }
        }
        for (setting, value, file_value) in [
            (BODY_TIMEOUT, cli.body_timeout.clone(), file.body_timeout),
            (
                UPSTREAM_TIMEOUT,
                cli.upstream_timeout.clone(),
                file.upstream_timeout,
            ),
            (
                CONNECT_TIMEOUT,
                cli.connect_timeout.clone(),
                file.connect_timeout,
            ),
            (
                SHUTDOWN_TIMEOUT,
                cli.shutdown_timeout.clone(),
                file.shutdown_timeout,
            ),
        ] {
            let Some((v, src)) = r.pick(setting, value, file_value.map(Scalar::into_string)) else {
                continue;
            };
            let zero_ok = setting == SHUTDOWN_TIMEOUT;
            match parse_duration(&v) {
                Ok(d) if (zero_ok || !d.is_zero()) && d <= Duration::from_secs(24 * 3600) => {
                    match setting.id {
                        "upstream_timeout" => r.config.upstream_timeout = d,
                        "connect_timeout" => r.config.connect_timeout = d,
                        "body_timeout" => r.config.body_timeout = d,
                        _ => r.config.shutdown_timeout = d,
                    }
                }
                Ok(_) => r.err(
                    setting,
                    src,
                    format!(
                        "{v:?} is outside {}..=24h",
                        if zero_ok { "0s" } else { "1ms" }
                    ),
                    "use a duration such as 500ms, 30s or 2m",
                ),
                Err(e) => r.err(
                    setting,
                    src,
                    format!("{v:?}: {e}"),
                    "use a duration such as 500ms, 30s or 2m",
                ),
            }
        }
        if let Some((v, src)) = r.pick(
            MAX_BODY,
            cli.max_body.clone(),
            file.max_body.map(Scalar::into_string),
        ) {
            match v.trim().parse::<bytesize::ByteSize>() {
                Ok(size) => r.config.max_body = size.as_u64(),
                Err(_) => r.err(
                    MAX_BODY,
                    src,
                    format!("{v:?} is not a size"),
                    "use a byte count or a size such as 512KiB, 64MiB or 1GB",
                ),
            }
        }

        if let Some((v, src)) = r.pick(ADMIN_LISTEN, cli.admin_listen.clone(), file.admin_listen) {
            if v.trim().eq_ignore_ascii_case("off") {
                r.config.admin_listen = None;
            } else {
                match v.trim().parse::<SocketAddr>() {
                    Ok(a) => r.config.admin_listen = Some(a),
                    Err(_) => r.err(
                        ADMIN_LISTEN,
                        src,
                        format!("{v:?} is not an IP address and port, nor off"),
                        "use IP:PORT, such as 127.0.0.1:9100 (keep it off the public interface), or off",
                    ),
                }
            }
        }
        if let Some((v, src)) = r.pick(
            MAX_CONNECTIONS,
            cli.max_connections.clone(),
            file.max_connections.map(Scalar::into_string),
        ) {
            match v.trim().parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => r.config.max_connections = n,
                _ => r.err(
                    MAX_CONNECTIONS,
                    src,
                    format!("{v:?} is not a number in 1..=1000000"),
                    "use a connection count such as 4096",
                ),
            }
        }
        if let Some((values, src)) =
            r.pick_list(TRUSTED_PROXY, &cli.trusted_proxy, file.trusted_proxy)
        {
            for v in values {
                match parse_cidr(&v) {
                    Ok(net) => r.config.trusted_proxies.0.push(net),
                    Err(problem) => r.err(
                        TRUSTED_PROXY,
                        src.clone(),
                        format!("{v:?}: {problem}"),
                        "use a CIDR block such as 10.0.0.0/8 or 192.168.1.10/32, or an address",
                    ),
                }
            }
        }

        let file_key = file
            .signing_key
            .map(|p| relative_to(file_path.as_deref(), p));
        if let Some((v, src)) = r.pick(SIGNING_KEY, cli.signing_key.clone(), file_key) {
            match SigningKeyFile::load(&v) {
                Ok(key) => r.config.signing_key = Some(key),
                Err(problem) => r.err(
                    SIGNING_KEY,
                    src,
                    problem,
                    "give a PEM private key: RSA of 2048 bits or more, EC P-256 or P-384, or Ed25519 \
                     (`openssl genpkey -algorithm ed25519 -out key.pem`), or leave the setting out for HS256",
                ),
            }
        }
        if let Some((values, src)) = r.pick_list(JWKS_URL, &cli.jwks_url, file.jwks_url) {
            for v in values {
                match parse_jwks_url(&v) {
                    Ok(pair) => r.config.jwks_urls.push(pair),
                    Err(problem) => r.err(
                        JWKS_URL,
                        src.clone(),
                        format!("{v:?}: {problem}"),
                        "use ISS=URL, the issuer its tokens carry and its JWKS, such as \
                         https://idp.example.com=https://idp.example.com/jwks.json",
                    ),
                }
            }
        }
        if let Some((values, src)) = r.pick_list(ISSUER_URL, &cli.issuer_url, file.issuer_url) {
            for v in values {
                match parse_url(&v) {
                    Ok(()) => r.config.issuer_urls.push(v),
                    Err(problem) => r.err(
                        ISSUER_URL,
                        src.clone(),
                        format!("{v:?}: {problem}"),
                        "use the issuer's URL, such as https://accounts.example.com",
                    ),
                }
            }
        }
        let external = [JWKS_URL, ISSUER_URL]
            .into_iter()
            .find(|s| r.config.sources.contains_key(s.id));
        if let Some(setting) = external {
            let src = r.config.source(setting);
            if !cfg!(feature = "jwks") {
                r.err(
                    setting,
                    src,
                    "this gateway was built without the `jwks` feature",
                    "rebuild with the default features (the `jwks` feature: cargo install --path jwt-gateway)",
                );
            } else if r.config.issuer.is_none() {
                r.err(
                    setting,
                    src,
                    "external issuers need the gateway's own issuer, to tell its tokens from theirs",
                    "set --issuer (GATEWAY_ISSUER), such as --issuer https://gateway.example.com",
                );
            }
        }

        let config = r.config;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Where `setting` came from.
    pub fn source(&self, setting: Setting) -> Source {
        self.sources
            .get(setting.id)
            .cloned()
            .unwrap_or(Source::Default)
    }

    /// The effective settings, one per line, with their sources; the secret
    /// shows only whether it is set.
    pub fn describe(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(none)".to_owned());
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_owned()
            } else {
                v.join(",")
            }
        };
        let rows: Vec<(Setting, String)> = vec![
            (LISTEN, self.listen.to_string()),
            (
                UPSTREAM,
                self.upstream
                    .as_ref()
                    .map_or("(none: tutorial routes)".to_owned(), ToString::to_string),
            ),
            (
                USERS,
                self.users
                    .as_ref()
                    .map_or("(built-in demo users)".to_owned(), |p| {
                        p.display().to_string()
                    }),
            ),
            (
                SECRET,
                if self.secret.is_generated() {
                    "(random, generated at start)".to_owned()
                } else {
                    "(set, redacted)".to_owned()
                },
            ),
            (
                TOKEN_TTL,
                humantime::format_duration(self.token_ttl).to_string(),
            ),
            (REALM, self.realm.clone()),
            (ISSUER, opt(&self.issuer)),
            (AUDIENCE, opt(&self.audience)),
            (
                STYLE,
                match self.style {
                    Style::FastApi => "fastapi".to_owned(),
                    _ => "standards".to_owned(),
                },
            ),
            (PUBLIC, list(&self.public)),
            (
                REQUIRE_SCOPE,
                list(
                    &self
                        .require_scope
                        .iter()
                        .map(|(p, s)| format!("{p}={}", s.join(" ")))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                CLAIM_HEADER,
                list(
                    &self
                        .claim_headers
                        .iter()
                        .map(|(c, h)| format!("{c}={h}"))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                FORWARD_AUTHORIZATION,
                self.forward_authorization.to_string(),
            ),
            (
                UPSTREAM_TIMEOUT,
                humantime::format_duration(self.upstream_timeout).to_string(),
            ),
            (
                CONNECT_TIMEOUT,
                humantime::format_duration(self.connect_timeout).to_string(),
            ),
            (MAX_BODY, self.max_body.to_string()),
            (
                SHUTDOWN_TIMEOUT,
                humantime::format_duration(self.shutdown_timeout).to_string(),
            ),
            (
                SIGNING_KEY,
                self.signing_key
                    .as_ref()
                    .map_or("(none: HS256 with JWT_SECRET)".to_owned(), |k| {
                        format!(
                            "{} ({:?}, kid {})",
                            k.path.display(),
                            k.rotation.signing_key().algorithm(),
                            k.rotation.active_kid()
                        )
                    }),
            ),
            (
                JWKS_URL,
                list(
                    &self
                        .jwks_urls
                        .iter()
                        .map(|(i, u)| format!("{i}={u}"))
                        .collect::<Vec<_>>(),
                ),
            ),
            (ISSUER_URL, list(&self.issuer_urls)),
            (
                ADMIN_LISTEN,
                self.admin_listen
                    .map_or("off".to_owned(), |a| a.to_string()),
            ),
            (MAX_CONNECTIONS, self.max_connections.to_string()),
            (
                BODY_TIMEOUT,
                humantime::format_duration(self.body_timeout).to_string(),
            ),
            (
                TRUSTED_PROXY,
                list(
                    &self
                        .trusted_proxies
                        .0
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                ),
            ),
            (MERGE_SLASHES, self.merge_slashes.to_string()),
            (
                ALLOW_UNDERSCORES,
                self.allow_underscores_in_headers.to_string(),
            ),
        ];
        let mut out = String::new();
        for (setting, value) in rows {
            let from = match self.source(setting) {
                Source::Flag => setting.flag.to_owned(),
                Source::Env => setting.env.to_owned(),
                Source::File(p) => format!("file {}", p.display()),
                Source::Default => "default".to_owned(),
            };
            out.push_str(&format!("{} = {value} ({from})\n", setting.id));
        }
        out
    }
}

const PREFIX_FIX: &str =
    "use an absolute path prefix such as /docs or /static/ (no query, no dot-segments)";

/// Applies precedence for one setting.
struct Resolver<'a> {
    matches: &'a ArgMatches,
    file_path: Option<&'a Path>,
    errors: &'a mut Vec<SettingError>,
    config: Config,
}

impl Resolver<'_> {
    fn err(
        &mut self,
        setting: Setting,
        source: Source,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors
            .push(SettingError::new(setting, source, problem, fix));
    }

    /// The value of `setting` and its source: flag or environment (clap
    /// already chose between them), else file, else `None` for the default.
    fn pick<T>(
        &mut self,
        setting: Setting,
        cli: Option<T>,
        file: Option<T>,
    ) -> Option<(T, Source)> {
        let (value, source) = match (cli, file) {
            (Some(v), _) => (v, source_of(self.matches, setting.id)),
            (None, Some(v)) => (
                v,
                Source::File(self.file_path.map(Path::to_path_buf).unwrap_or_default()),
            ),
            (None, None) => return None,
        };
        self.config.sources.insert(setting.id, source.clone());
        Some((value, source))
    }

    /// As [`pick`](Self::pick) for repeatable settings: a non-empty list from
    /// the command line or environment replaces the file's.
    fn pick_list(
        &mut self,
        setting: Setting,
        cli: &[String],
        file: Option<Vec<String>>,
    ) -> Option<(Vec<String>, Source)> {
        let cli = (!cli.is_empty()).then(|| cli.to_vec());
        self.pick(setting, cli, file)
    }
}

fn source_of(matches: &ArgMatches, id: &str) -> Source {
    match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => Source::Env,
        Some(ValueSource::CommandLine) => Source::Flag,
        _ => Source::Default,
    }
}

fn read_file(path: &Path, source: Source) -> Result<FileConfig, SettingError> {
    let fix = "give the path of a readable TOML file whose keys are the flag names (listen, upstream, users, ...)";
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingError::new(
            CONFIG,
            source.clone(),
            format!("cannot read {}: {e}", path.display()),
            fix,
        )
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        SettingError::new(
            CONFIG,
            source.clone(),
            format!("{} is not valid TOML: {}", path.display(), e.message()),
            fix,
        )
    })?;
    if table.contains_key("jwt_secret") || table.contains_key("secret") {
        return Err(SettingError::new(
            CONFIG,
            source,
            format!("{} holds a secret", path.display()),
            "remove it from the file and set the JWT_SECRET environment variable instead",
        ));
    }
    FileConfig::deserialize(table).map_err(|e| {
        SettingError::new(
            CONFIG,
            source,
            format!("{}: {}", path.display(), e.message()),
            fix,
        )
    })
}

/// A path in the config file is relative to the file's directory.
fn relative_to(file: Option<&Path>, p: PathBuf) -> PathBuf {
    match file.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

/// Parses `--upstream`: `http://host:port`, optionally with a base path.
///
/// # Errors
///
/// What is wrong with `s`, for the message of the refusal.
pub fn parse_upstream(s: &str) -> Result<Upstream, String> {
    let uri: Uri = s.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("https upstreams are not supported by this gateway (it speaks plain HTTP/1.1 to the upstream)".to_owned());
        }
        Some(other) => return Err(format!("the scheme {other:?} is not http")),
        None => return Err("no scheme".to_owned()),
    }
    let authority = uri.authority().ok_or("no host")?.clone();
    if authority.as_str().contains('@') {
        return Err("credentials in the URL are not supported".to_owned());
    }
    if authority.host().is_empty() {
        return Err("no host".to_owned());
    }
    if uri.query().is_some() {
        return Err("a query is not allowed".to_owned());
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    if !base_path.is_empty() {
        paths::normalize(&base_path, paths::PathPolicy::default())
            .map_err(|e| e.description().to_lowercase())?;
    }
    Ok(Upstream {
        scheme: Scheme::HTTP,
        authority,
        base_path,
    })
}

/// A URL the keys may come from: `https`, or `http` (allowed by the key
/// fetcher for loopback hosts only).
fn parse_url(s: &str) -> Result<(), String> {
    let uri: Uri = s.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err("not an http(s) URL".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("no host".to_owned());
    }
    Ok(())
}

fn parse_jwks_url(s: &str) -> Result<(String, String), String> {
    let (iss, url) = s
        .split_once('=')
        .ok_or("no '=': name the issuer whose tokens these keys verify")?;
    let iss = iss.trim();
    if iss.is_empty() || iss.chars().any(char::is_control) {
        return Err("no issuer before '='".to_owned());
    }
    parse_url(url.trim())?;
    Ok((iss.to_owned(), url.trim().to_owned()))
}

/// A CIDR block, or a single address (`/32` or `/128`).
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| "not a CIDR block nor an IP address".to_owned())
}

fn parse_prefix(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err("a prefix must start with '/'".to_owned());
    }
    if s.contains(['?', '#']) || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a prefix is a path, without query, fragment or whitespace".to_owned());
    }
    if !s.is_ascii() {
        return Err("a prefix must be ASCII (percent-encode other characters)".to_owned());
    }
    let normalized = paths::normalize(
        s,
        paths::PathPolicy {
            allow_empty_segments: false,
        },
    )
    .map_err(|e| e.description().to_lowercase())?;
    // A prefix is matched against normalized paths: one written in another
    // form (dot-segments, needless escapes) would never match as written.
    if normalized != s {
        return Err(format!("a prefix must be written normalized: {normalized}"));
    }
    Ok(normalized)
}

fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn parse_scope_rule(s: &str) -> Result<(String, Vec<String>), String> {
    let (prefix, scopes) = s.split_once('=').ok_or("no '='")?;
    let prefix = parse_prefix(prefix.trim())?;
    let scopes: Vec<String> = scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err("no scope after '='".to_owned());
    }
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(format!("{bad:?} is not a valid scope"));
    }
    Ok((prefix, scopes))
}

/// Headers that a claim may not be mapped to: framing, routing, and the
/// gateway's own.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-auth-scopes",
    "x-auth-subject",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

fn parse_claim_header(s: &str) -> Result<(String, HeaderName), String> {
    let (claim, header) = s.split_once('=').ok_or("no '='")?;
    let claim = claim.trim();
    if claim.is_empty() {
        return Err("no claim name before '='".to_owned());
    }
    let header = HeaderName::from_bytes(header.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", header.trim()))?;
    if RESERVED_HEADERS.contains(&header.as_str()) {
        return Err(format!("{header} is reserved"));
    }
    Ok((claim.to_owned(), header))
}

/// A duration: `humantime` syntax (`30s`, `5m`, `1h 30m`, `500ms`) or a bare
/// number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_trusted_proxies_is_the_rightmost_untrusted_address() {
        let trusted = TrustedProxies(vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.168.1.1/32".parse().unwrap(),
        ]);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let xff = |values: &[&str]| {
            let mut h = http::HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        let spoofed = xff(&["6.6.6.6"]);
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            trusted.client_ip(ip("203.0.113.5"), &spoofed),
            ip("203.0.113.5")
        );
        // A trusted peer vouches for the entry it appended, not those before.
        let h = xff(&["6.6.6.6, 198.51.100.7", "192.168.1.1"]);
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &h), ip("198.51.100.7"));
        // Only trusted proxies all the way: the left-most of them.
        let h = xff(&["10.9.9.9"]);
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &h), ip("10.9.9.9"));
        // A malformed entry stops the walk at the last good address.
        let h = xff(&["198.51.100.7, junk, 10.9.9.9"]);
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        let h = http::HeaderMap::new();
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &h), ip("10.1.2.3"));
    }

    fn parse(args: &[&str], secret: Option<&str>) -> Result<Config, Vec<SettingError>> {
        let mut argv = vec!["gateway"];
        argv.extend_from_slice(args);
        // No `env` here: these tests run with whatever environment the test
        // runner has, so they only use flags, which win over it.
        let matches = Cli::command()
            .try_get_matches_from(argv)
            .expect("valid command line");
        let cli = Cli::from_arg_matches(&matches).expect("cli");
        Config::from_parts(&cli, &matches, secret.map(std::ffi::OsStr::new))
    }

    #[test]
    fn defaults() {
        let c = parse(&[], None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert!(c.secret.is_generated());
        assert_eq!(c.token_ttl, Duration::from_secs(1800));
        assert!(!c.forward_authorization);
    }

    #[test]
    fn upstream_with_base_path() {
        let c = parse(&["--upstream", "http://127.0.0.1:3000/api/"], None).unwrap();
        let u = c.upstream.unwrap();
        assert_eq!(u.authority.as_str(), "127.0.0.1:3000");
        assert_eq!(u.base_path, "/api");
    }

    #[test]
    fn scope_rules_merge_by_prefix() {
        let c = parse(
            &[
                "--require-scope",
                "/admin=admin",
                "--require-scope",
                "/admin=write admin",
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            c.require_scope,
            vec![(
                "/admin".to_owned(),
                vec!["admin".to_owned(), "write".to_owned()]
            )]
        );
    }

    #[test]
    fn errors_name_the_setting_and_the_fix() {
        let errs = parse(&["--upstream", "ftp://x", "--style", "nope"], Some("short")).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{text:?}");
        assert!(text[0].starts_with("invalid JWT_SECRET"), "{}", text[0]);
        assert!(text[0].contains("openssl rand -hex 32"));
        assert!(!text[0].contains("short"), "the secret is never printed");
        assert!(
            text[1].starts_with("invalid --upstream (from --upstream)"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("fix: use `standards`"), "{}", text[2]);
    }

    #[test]
    fn secret_is_redacted() {
        let c = parse(&[], Some("0123456789abcdef0123456789abcdef")).unwrap();
        assert!(!c.secret.is_generated());
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        assert!(!c.describe().contains("0123456789abcdef"));
    }
}
