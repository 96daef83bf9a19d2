//! The gateway as a process (`CARGO_BIN_EXE_jwt-gateway`): invalid settings
//! are refused at start with exit status 2 and a message that names the
//! setting and the fix, and settings follow flag > environment > file >
//! default.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn gateway_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_jwt-gateway"))
}

/// Runs the gateway with `args` and `env` (and nothing else of the test's
/// gateway-related environment) until it exits.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(gateway_bin());
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEWAY_") || k == "JWT_SECRET" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the gateway runs");
    // A setting that is wrongly accepted starts a server that never exits:
    // bound the wait so that such a regression fails instead of hanging.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "gateway {args:?} did not exit within 30 s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts exit status 2 and a message naming `setting` with a fix.
#[track_caller]
fn refused(out: &Output, setting: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(setting), "{setting} not named in: {err}");
    assert!(err.contains("fix:"), "no fix in: {err}");
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents.as_bytes())
        .unwrap();
    path
}

#[test]
fn every_invalid_flag_is_refused_with_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--listen", "localhost"], "--listen"),
        (&["--listen", "127.0.0.1:99999"], "--listen"),
        (&["--upstream", "not a url"], "--upstream"),
        (&["--upstream", "ftp://127.0.0.1:21"], "--upstream"),
        (&["--upstream", "https://127.0.0.1:443"], "--upstream"),
        (&["--upstream", "http://u:p@127.0.0.1:80"], "--upstream"),
        (&["--upstream", "http://127.0.0.1:80/?q=1"], "--upstream"),
        (&["--users", "/nonexistent/users.toml"], "--users"),
        (&["--users", "/"], "--users"),
        (&["--token-ttl", "soon"], "--token-ttl"),
        (&["--token-ttl", "0s"], "--token-ttl"),
        (&["--token-ttl", "30d"], "--token-ttl"),
        (&["--realm", "a\"b"], "--realm"),
        (&["--realm", ""], "--realm"),
        (&["--issuer", ""], "--issuer"),
        (&["--audience", ""], "--audience"),
        (&["--style", "django"], "--style"),
        (&["--public", "docs"], "--public"),
        (&["--public", "/a/../b"], "--public"),
        (&["--public", "/a?b"], "--public"),
        (&["--require-scope", "/admin"], "--require-scope"),
        (&["--require-scope", "/admin="], "--require-scope"),
        (&["--require-scope", "admin=admin"], "--require-scope"),
        (&["--require-scope", "/admin=a\\b"], "--require-scope"),
        (
            &["--public", "/x", "--require-scope", "/x=admin"],
            "--require-scope",
        ),
        (&["--claim-header", "email"], "--claim-header"),
        (&["--claim-header", "email=bad header"], "--claim-header"),
        (&["--claim-header", "sub=X-Auth-Subject"], "--claim-header"),
        (&["--claim-header", "email=Host"], "--claim-header"),
        (
            &["--forward-authorization", "maybe"],
            "--forward-authorization",
        ),
        (&["--upstream-timeout", "0s"], "--upstream-timeout"),
        (&["--upstream-timeout", "forever"], "--upstream-timeout"),
        (&["--connect-timeout=-1"], "--connect-timeout"),
        (&["--shutdown-timeout", "2 days"], "--shutdown-timeout"),
        (&["--max-body", "lots"], "--max-body"),
        (&["--config", "/nonexistent/gateway.toml"], "--config"),
    ];
    for (args, setting) in cases {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        refused(&out, setting);
    }
}

#[test]
fn invalid_users_files_are_refused_with_status_2() {
    let cases = [
        ("plain.toml", "[bob]\nhashed_password = \"hunter2\"\n"),
        ("typo.toml", "[bob]\nhashed_pasword = \"$argon2id$v=19$m=19456,t=2,p=1$2gNcOlYYheITaN2bd/k7PA$gDVQGnJUksXPr6ig1orhlON+Yk6hWTq2tRNXkyS0DAI\"\n"),
        ("users.yaml", "bob: {}\n"),
        ("broken.json", "{\"bob\": "),
    ];
    for (name, contents) in cases {
        let path = temp_file(name, contents);
        let out = run(&["--users", path.to_str().unwrap()], &[]);
        refused(&out, "--users");
        assert!(!stderr(&out).contains("hunter2"), "a password was printed");
    }
}

#[test]
fn unknown_flags_and_secret_flags_are_usage_errors() {
    // clap's own usage errors also exit with 2.
    let out = run(&["--listne", "127.0.0.1:1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    // There is no flag for the secret.
    let out = run(&["--jwt-secret", "0123456789abcdef0123456789abcdef"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_invalid_environment_value_is_refused_with_status_2() {
    let cases: &[(&str, &str, &str)] = &[
        ("JWT_SECRET", "too-short", "JWT_SECRET"),
        ("JWT_SECRET", "", "JWT_SECRET"),
        ("GATEWAY_LISTEN", "nowhere", "GATEWAY_LISTEN"),
        ("GATEWAY_UPSTREAM", "gopher://x", "GATEWAY_UPSTREAM"),
        ("GATEWAY_STYLE", "nope", "GATEWAY_STYLE"),
        ("GATEWAY_PUBLIC", "/ok,bad", "GATEWAY_PUBLIC"),
        ("GATEWAY_MAX_BODY", "huge", "GATEWAY_MAX_BODY"),
    ];
    for (var, value, named) in cases {
        let out = run(&[], &[(var, value)]);
        refused(&out, named);
        if *var == "JWT_SECRET" && !value.is_empty() {
            assert!(!stderr(&out).contains(value), "the secret was printed");
            assert!(stderr(&out).contains("openssl rand -hex 32"));
        }
    }
    // A bad RUST_LOG is refused too.
    let out = run(&[], &[("RUST_LOG", "gateway=[[[")]);
    refused(&out, "RUST_LOG");
}

#[test]
fn invalid_config_files_are_refused_with_status_2() {
    let cases: &[(&str, &str, &str)] = &[
        ("syntax.toml", "listen = ", "--config"),
        ("unknown.toml", "lissten = \"127.0.0.1:1\"", "--config"),
        (
            "secret.toml",
            "jwt_secret = \"0123456789abcdef0123456789abcdef\"",
            "--config",
        ),
        ("badvalue.toml", "style = \"nope\"", "`style` in"),
        ("badtype.toml", "public = \"/x\"", "--config"),
        (
            "badusers.toml",
            "users = \"missing-users.toml\"",
            "`users` in",
        ),
    ];
    for (name, contents, named) in cases {
        let path = temp_file(name, contents);
        let out = run(&["--config", path.to_str().unwrap()], &[]);
        refused(&out, named);
        assert!(
            !stderr(&out).contains("0123456789abcdef"),
            "a secret was printed"
        );
    }
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let path = temp_file(
        "precedence.toml",
        r#"
listen = "127.0.0.1:7001"
realm = "from-file"
style = "fastapi"
token_ttl = 600
public = ["/file"]
"#,
    );
    let out = run(
        &[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:7003",
            "--check-config",
        ],
        &[
            ("GATEWAY_LISTEN", "127.0.0.1:7002"),
            ("GATEWAY_REALM", "from-env"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "listen = 127.0.0.1:7003 (--listen)",
        "realm = from-env (GATEWAY_REALM)",
        "style = fastapi (file ",
        "token_ttl = 10m (file ",
        "public = /file (file ",
        "upstream_timeout = 30s (default)",
        "jwt_secret = (set, redacted) (JWT_SECRET)",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    assert!(!text.contains("0123456789abcdef"));
}

#[test]
fn valid_settings_pass_the_check() {
    let out = run(
        &[
            "--check-config",
            "--upstream",
            "http://127.0.0.1:3000/api",
            "--public",
            "/docs",
            "--require-scope",
            "/admin=admin",
            "--claim-header",
            "email=X-Auth-Email",
            "--forward-authorization",
            "--max-body",
            "1MiB",
        ],
        &[("GATEWAY_STYLE", "standards")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("max_body = 1048576"), "{text}");
    assert!(
        text.contains("forward_authorization = true (--forward-authorization)"),
        "{text}"
    );
    assert!(
        text.contains("jwt_secret = (random, generated at start) (default)"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_gateway_with_status_0() {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(gateway_bin())
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--shutdown-timeout", "5s"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the banner: by then the listener is bound and signals are handled.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("gateway listening on http://127.0.0.1:"),
        "{first}"
    );
    let mut banner = vec![first];
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line.contains("/metrics");
        banner.push(line);
        if last {
            break;
        }
    }
    let banner = banner.join("\n");
    // What to try: the README's three commands.
    assert!(
        banner.contains("/token -d 'grant_type=password&username=johndoe&password=secret'"),
        "{banner}"
    );
    assert!(
        banner.contains("curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:"),
        "{banner}"
    );
    assert!(
        banner.contains("/users/me/    # 401 without a token"),
        "{banner}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

fn key_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn bad_signing_keys_are_refused_with_status_2() {
    let not_pem = temp_file("not-a-key.pem", "hello\n");
    let not_pem = not_pem.display().to_string();
    for file in [
        key_file("rsa1024.pem"),
        key_file("p256.pub.pem"),
        key_file("nope.pem"),
        not_pem,
    ] {
        let out = run(&["--signing-key", &file], &[]);
        refused(&out, "--signing-key");
        let err = stderr(&out);
        assert!(
            !err.contains("PRIVATE KEY-----\nMI"),
            "key material printed: {err}"
        );
    }
    let out = run(&[], &[("GATEWAY_SIGNING_KEY", &key_file("rsa1024.pem"))]);
    refused(&out, "--signing-key");
    assert!(
        stderr(&out).contains("GATEWAY_SIGNING_KEY"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("2048"), "{}", stderr(&out));
}

#[test]
fn a_signing_key_shows_its_algorithm_and_kid_in_the_check() {
    let out = run(
        &["--signing-key", &key_file("p384.pem"), "--check-config"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("signing_key = "))
        .unwrap_or_else(|| panic!("no signing_key line in {text}"));
    assert!(line.contains("ES384") && line.contains("kid "), "{line}");
    assert!(line.ends_with("(--signing-key)"), "{line}");
}

#[test]
fn external_issuers_need_the_jwks_feature_and_an_issuer() {
    let jwks = [
        "--jwks-url",
        "https://idp.example=https://idp.example/jwks.json",
    ];
    let out = run(&jwks, &[]);
    refused(&out, "--jwks-url");
    if cfg!(feature = "jwks") {
        assert!(stderr(&out).contains("--issuer"), "{}", stderr(&out));
    } else {
        assert!(stderr(&out).contains("`jwks` feature"), "{}", stderr(&out));
    }
    let out = run(
        &[],
        &[("GATEWAY_ISSUER_URL", "https://a.example,https://b.example")],
    );
    refused(&out, "GATEWAY_ISSUER_URL");
    for bad in ["https://idp.example/jwks.json", "x=ftp://idp.example/jwks"] {
        let out = run(&["--issuer", "https://gw.example", "--jwks-url", bad], &[]);
        refused(&out, "--jwks-url");
    }
    let out = run(
        &["--issuer", "https://gw.example", "--issuer-url", "idp"],
        &[],
    );
    refused(&out, "--issuer-url");
}
