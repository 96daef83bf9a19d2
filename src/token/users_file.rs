//! The users file: a TOML or JSON file of users that an operator edits by hand.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::form::is_scope_token;
use super::password::check_stored;
use super::store::{MemoryStore, StoredUser, UserProfile};

/// The longest username the users file accepts, and the token endpoint's
/// default cap on the `username` parameter (bytes).
pub const MAX_USERNAME_LEN: usize = 256;

/// The syntax of a users file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsersFileFormat {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

/// A users file, parsed and checked: the users of a [`MemoryStore`].
///
/// # Format
///
/// One entry per user, keyed by username, in TOML or JSON (chosen by the file's
/// extension, `.toml` or `.json`). Each entry has:
///
/// | field | type | required | meaning |
/// |---|---|---|---|
/// | `hashed_password` | string | yes | an argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), as made by `cargo run --example hash-password`, pwdlib or argon2-cffi |
/// | `username` | string | no | if present, must equal the key |
/// | `email` | string | no | the profile's e-mail |
/// | `full_name` | string | no | the profile's full name |
/// | `disabled` | bool | no (`false`) | a disabled user cannot log in, and its tokens are refused |
/// | `scopes` | array of strings | no (`[]`) | the scopes the user may be granted |
///
/// ```toml
/// [johndoe]
/// full_name = "John Doe"
/// email = "johndoe@example.com"
/// hashed_password = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc"
/// scopes = ["me", "items"]
///
/// [alice]
/// hashed_password = "$argon2id$v=19$m=19456,t=2,p=1$..."
/// disabled = true
/// ```
///
/// The JSON form is the FastAPI tutorial's `fake_users_db`, as is:
///
/// ```json
/// {
///   "johndoe": {
///     "username": "johndoe",
///     "full_name": "John Doe",
///     "email": "johndoe@example.com",
///     "hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc",
///     "disabled": false
///   }
/// }
/// ```
///
/// A file is refused, with the line and the reason, when it is not valid TOML or
/// JSON, a user appears twice, a username is empty, longer than
/// [`MAX_USERNAME_LEN`] bytes or holds a line break, `username` differs from the
/// key, `hashed_password` is missing or is not an argon2 PHC string this crate
/// can verify, a scope is not an RFC 6749 §3.3 `scope-token`, or a field is
/// unknown (a typo such as `hashed_pasword`). Error messages never quote values,
/// so a hash does not end up in a log.
///
/// ```
/// use tower_jwt_auth::token::{UsersFile, UsersFileFormat};
///
/// let err = UsersFile::parse(
///     "[johndoe]\nfull_name = \"John Doe\"\nhashed_password = \"secret\"\n",
///     UsersFileFormat::Toml,
/// )
/// .unwrap_err();
/// assert_eq!(err.line(), Some(3));
/// assert!(err.to_string().contains("not a PHC string"), "{err}");
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Clone, Debug)]
pub struct UsersFile {
    users: Vec<StoredUser<UserProfile>>,
}

impl UsersFile {
    /// Reads and checks the users file at `path`; the extension (`.toml` or
    /// `.json`) selects the syntax.
    ///
    /// # Errors
    ///
    /// [`UsersFileError`] if the file cannot be read, has another extension, or
    /// is refused (see the format above).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, UsersFileError> {
        let path = path.as_ref();
        let at = |e: UsersFileError| e.with_path(path);
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => UsersFileFormat::Toml,
            Some(e) if e.eq_ignore_ascii_case("json") => UsersFileFormat::Json,
            _ => {
                return Err(at(UsersFileError::new(
                    "unknown users file extension: expected .toml or .json",
                )))
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            at(UsersFileError::new(format!(
                "cannot read the users file: {e}"
            )))
        })?;
        Self::parse(&text, format).map_err(at)
    }

    /// Parses and checks a users file's text.
    ///
    /// # Errors
    ///
    /// [`UsersFileError`] with the line and the reason (see the format above).
    pub fn parse(text: &str, format: UsersFileFormat) -> Result<Self, UsersFileError> {
        let users: Users = match format {
            UsersFileFormat::Toml => toml::from_str(text).map_err(|e| {
                let line = e.span().map(|s| line_col(text, s.start));
                UsersFileError::new(redact(e.message())).at(line.map(|l| l.0), line.map(|l| l.1))
            })?,
            UsersFileFormat::Json => serde_json::from_str(text).map_err(|e| {
                let msg = e.to_string();
                let msg = msg
                    .rsplit_once(" at line ")
                    .map_or(msg.as_str(), |(m, _)| m);
                let (line, col) = (e.line(), e.column());
                UsersFileError::new(redact(msg))
                    .at((line > 0).then_some(line), (col > 0).then_some(col))
            })?,
        };
        Ok(Self { users: users.0 })
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file defines no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users.
    pub fn users(&self) -> &[StoredUser<UserProfile>] {
        &self.users
    }

    /// A [`MemoryStore`] holding the users.
    pub fn into_store(self) -> MemoryStore<UserProfile> {
        let store = MemoryStore::new();
        for user in self.users {
            store.insert(user.profile().username.clone(), user);
        }
        store
    }
}

impl MemoryStore<UserProfile> {
    /// A store loaded from a users file; see [`UsersFile`] for the format.
    ///
    /// # Errors
    ///
    /// As [`UsersFile::load`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, UsersFileError> {
        UsersFile::load(path).map(UsersFile::into_store)
    }
}

/// A users file was refused: where and why. It never quotes a value from the
/// file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsersFileError {
    path: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    reason: String,
}

impl UsersFileError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            path: None,
            line: None,
            column: None,
            reason: reason.into(),
        }
    }

    fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// The file, when it was loaded from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The line (from 1), when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The column (from 1), when known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// Why the file was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for UsersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("users file")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for UsersFileError {}

/// 1-based line and column of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// Hides the string values that serde quotes in its messages (as in
/// `invalid type: string "...", expected a boolean`), so that a hash put in the
/// wrong field is not printed.
fn redact(msg: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg.trim();
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let mut escaped = false;
        let mut end = rest.len();
        for (j, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
        }
        out.push_str("...\"");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The whole file: a map from username to entry.
struct Users(Vec<StoredUser<UserProfile>>);

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Users;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of users keyed by username")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Users, A::Error> {
                let mut seen = HashSet::new();
                let mut users = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    check_username(&name).map_err(de::Error::custom)?;
                    if !seen.insert(name.clone()) {
                        return Err(de::Error::custom(format!("user {name:?} appears twice")));
                    }
                    let entry: Entry = map.next_value()?;
                    if entry.username.as_ref().is_some_and(|u| *u != name) {
                        return Err(de::Error::custom(format!(
                            "user {name:?}: `username` differs from the key"
                        )));
                    }
                    let profile = UserProfile {
                        username: name,
                        email: entry.email,
                        full_name: entry.full_name,
                        disabled: entry.disabled,
                    };
                    users.push(
                        StoredUser::from_profile(profile, entry.hashed_password.0)
                            .with_scopes(entry.scopes.into_iter().map(|s| s.0)),
                    );
                }
                Ok(Users(users))
            }
        }
        d.deserialize_map(V)
    }
}

fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty username".into());
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(format!("username longer than {MAX_USERNAME_LEN} bytes"));
    }
    if name.contains(['\r', '\n']) {
        return Err("line break in a username".into());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    hashed_password: Phc,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    scopes: Vec<Scope>,
}

struct Phc(String);

impl<'de> Deserialize<'de> for Phc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_stored(&s).map_err(|reason| {
            de::Error::custom(format!(
                "hashed_password is {reason}; expected an argon2 PHC string \
                 (make one with `cargo run --example hash-password`)"
            ))
        })?;
        Ok(Self(s))
    }
}

struct Scope(String);

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !is_scope_token(&s) {
            return Err(de::Error::custom(
                "invalid scope: a scope is one or more printable ASCII characters \
                 without spaces, double quotes or backslashes (RFC 6749 §3.3)",
            ));
        }
        Ok(Self(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_quoted_values() {
        assert_eq!(
            redact("invalid type: string \"$argon2id$x\", expected a boolean"),
            "invalid type: string \"...\", expected a boolean"
        );
        assert_eq!(
            redact(r#"invalid type: string "a\"b", expected a boolean; string "c""#),
            r#"invalid type: string "...", expected a boolean; string "...""#
        );
        assert_eq!(
            redact("missing field `hashed_password`"),
            "missing field `hashed_password`"
        );
        assert_eq!(
            redact("user \"bob\" appears twice"),
            "user \"bob\" appears twice"
        );
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
