//! Prints an argon2id PHC string for a password, for the `hashed_password` field
//! of a users file (see `tower_jwt_auth::token::UsersFile`).
//!
//! Run with
//!
//! ```sh
//! cargo run --example hash-password               # asks twice, without echo
//! printf '%s' 'secret' | cargo run --example hash-password
//! cargo run --example hash-password -- --params 65536,3,4 < password.txt
//! ```
//!
//! On a terminal the password is read without echo and asked twice. From a pipe
//! or a file, the first line is the password (one trailing `\n` or `\r\n` is
//! removed; nothing else is trimmed). The default parameters are the crate's
//! policy (OWASP: m=19456 KiB, t=2, p=1); `--params M,T,P` sets others (pwdlib's
//! `PasswordHash.recommended()` is `65536,3,4`).
//!
//! Exit status: 0 with the PHC string on stdout; 2 for a usage error or an empty
//! or unreadable password, with the reason on stderr (never the password).

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use tower_jwt_auth::token::PasswordHasher;

fn main() -> ExitCode {
    match run() {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("hash-password: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<String, String> {
    let hasher = hasher_from_args(std::env::args().skip(1))?;
    let password = if io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        read_line(io::stdin().lock())?
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let _ = io::stderr().flush();
    hasher
        .hash_blocking(password.as_bytes())
        .map_err(|e| e.to_string())
}

fn hasher_from_args(mut args: impl Iterator<Item = String>) -> Result<PasswordHasher, String> {
    const USAGE: &str = "usage: hash-password [--params M_KIB,T,P] < password";
    let mut builder = PasswordHasher::builder();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--params" => {
                let v = args.next().ok_or(USAGE)?;
                let n: Vec<u32> = v
                    .split(',')
                    .map(|x| x.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| USAGE)?;
                let [m, t, p] = n[..] else {
                    return Err(USAGE.into());
                };
                builder = builder.params(m, t, p).map_err(|e| e.to_string())?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(builder.build())
}

/// The first line of `input`, without its line ending.
fn read_line(mut input: impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|_| "the password is not valid UTF-8 or could not be read".to_owned())?;
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}
