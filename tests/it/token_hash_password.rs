//! `examples/hash-password.rs`, run as a real process with a piped password.
#![cfg(feature = "token")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The example binary, built by `cargo test` (which builds examples) or, when
/// this test runs alone (`cargo test --test token_hash_password`), by a nested
/// `cargo build --example hash-password` with this test's features.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/hash-password
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = dir.join(format!("hash-password{}", std::env::consts::EXE_SUFFIX));
    // Same features as this test, so that the build is a no-op when `cargo
    // test` already built the example.
    let features: Vec<&str> = [
        ("token", cfg!(feature = "token")),
        ("aws-lc-rs", cfg!(feature = "aws-lc-rs")),
        ("rust-crypto", cfg!(feature = "rust-crypto")),
        ("axum", cfg!(feature = "axum")),
        ("tracing", cfg!(feature = "tracing")),
        ("tonic", cfg!(feature = "tonic")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "hash-password",
            "--no-default-features",
        ])
        .arg("--features")
        .arg(features.join(","))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo build --example hash-password failed"
    );
    bin
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the example with `args`, writing `stdin` to a pipe.
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(example())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The example may exit (usage error) before reading: ignore a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn verifies(password: &str, phc: &str) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(tower_jwt_auth::token::PasswordHasher::new().verify(password.as_bytes(), phc))
        .unwrap()
}

#[test]
fn piped_password_prints_a_policy_phc_string() {
    let run = run(&[], b"correct horse battery staple");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let phc = run.stdout.trim_end_matches('\n');
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains('\n'));
    assert!(verifies("correct horse battery staple", phc));
    assert!(!run.stdout.contains("horse") && !run.stderr.contains("horse"));
}

#[test]
fn one_trailing_newline_is_removed() {
    let lf = run(&[], b"secret\n");
    assert_eq!(lf.code, 0, "{}", lf.stderr);
    assert!(verifies("secret", lf.stdout.trim_end()));
    let crlf = run(&[], b"secret\r\n");
    assert!(verifies("secret", crlf.stdout.trim_end()));
}

#[test]
fn spaces_are_kept_and_only_the_first_line_is_read() {
    let run = run(&[], b" pass word \nsecond line\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(verifies(" pass word ", run.stdout.trim_end()));
}

#[test]
fn params_flag_sets_the_parameters() {
    let run = run(&["--params", "65536,3,4"], b"secret");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let phc = run.stdout.trim_end();
    assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{phc}");
    assert!(verifies("secret", phc));
}

#[test]
fn empty_password_is_refused() {
    let run = run(&[], b"\n");
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("empty password"), "{}", run.stderr);
}

#[test]
fn invalid_utf8_is_refused() {
    let run = run(&[], b"\xff\xfe\n");
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
}

#[test]
fn bad_params_are_a_usage_error() {
    for args in [
        &["--params", "1,2"][..],
        &["--params", "x,y,z"],
        &["--params"],
        &["--bogus"],
    ] {
        let run = run(args, b"secret");
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains("usage"), "{args:?}: {}", run.stderr);
    }
    let run = run(&["--params", "1,1,1"], b"secret");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid argon2 parameters"),
        "{}",
        run.stderr
    );
}
