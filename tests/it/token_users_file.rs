//! The users file: TOML and JSON, and every way a bad file is refused.
#![cfg(feature = "token")]

use std::path::PathBuf;

use crate::token_common::*;
use http::StatusCode;
use tower_jwt_auth::token::{MemoryStore, UserProfile, UsersFile, UsersFileError, UsersFileFormat};

const TOML: &str = r#"
[johndoe]
full_name = "John Doe"
email = "johndoe@example.com"
hashed_password = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc"
scopes = ["me", "items"]

[alice]
hashed_password = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc"
disabled = true
"#;

/// The FastAPI tutorial's `fake_users_db`, as is.
const FAKE_USERS_DB: &str = r#"{
    "johndoe": {
        "username": "johndoe",
        "full_name": "John Doe",
        "email": "johndoe@example.com",
        "hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc",
        "disabled": false
    }
}"#;

fn toml_err(text: &str) -> UsersFileError {
    UsersFile::parse(text, UsersFileFormat::Toml).unwrap_err()
}

fn json_err(text: &str) -> UsersFileError {
    UsersFile::parse(text, UsersFileFormat::Json).unwrap_err()
}

/// A unique temporary file with `contents`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tower-jwt-auth-{}-{}",
            std::process::id(),
            name.replace('.', "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

#[test]
fn toml_file_loads() {
    let file = UsersFile::parse(TOML, UsersFileFormat::Toml).unwrap();
    assert_eq!(file.len(), 2);
    let store = file.into_store();
    let john = store.get("johndoe").unwrap();
    assert_eq!(
        john.profile(),
        &UserProfile::new("johndoe")
            .with_email("johndoe@example.com")
            .with_full_name("John Doe")
    );
    assert_eq!(john.scopes(), ["me", "items"]);
    assert_eq!(john.password_hash(), TUTORIAL_HASH);
    let alice = store.get("alice").unwrap();
    assert!(alice.is_disabled() && alice.profile().disabled);
    assert!(alice.scopes().is_empty());
    assert_eq!(alice.profile().email, None);
}

#[test]
fn fastapi_fake_users_db_loads_as_json() {
    let store = UsersFile::parse(FAKE_USERS_DB, UsersFileFormat::Json)
        .unwrap()
        .into_store();
    assert_eq!(
        serde_json::to_string(store.get("johndoe").unwrap().profile()).unwrap(),
        r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#
    );
}

#[tokio::test]
async fn store_from_a_toml_file_serves_logins() {
    let file = TempFile::new("users.toml", TOML);
    let store = MemoryStore::from_file(&file.0).unwrap();
    let server = serve_endpoint(builder(store).build()).await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
    login(&server, "alice", "secret")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[test]
fn store_from_a_json_file() {
    let file = TempFile::new("users.json", FAKE_USERS_DB);
    assert_eq!(MemoryStore::from_file(&file.0).unwrap().len(), 1);
}

#[test]
fn empty_toml_file_has_no_users() {
    assert!(UsersFile::parse("", UsersFileFormat::Toml)
        .unwrap()
        .is_empty());
}

#[test]
fn unknown_extension_is_refused() {
    let file = TempFile::new("users.yaml", "johndoe: {}");
    let err = UsersFile::load(&file.0).unwrap_err();
    assert_eq!(err.path(), Some(file.0.as_path()));
    assert!(err.reason().contains(".toml or .json"), "{err}");
}

#[test]
fn missing_file_is_refused_with_its_path() {
    let err = UsersFile::load("/nonexistent/users.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/users.toml: cannot read"),
        "{err}"
    );
}

#[test]
fn error_display_has_path_line_and_column() {
    let file = TempFile::new("bad.toml", "[johndoe]\nhashed_password = 42\n");
    let err = UsersFile::load(&file.0).unwrap_err();
    assert_eq!(err.line(), Some(2));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}:2:", file.0.display())),
        "{shown}"
    );
}

#[test]
fn toml_syntax_error_has_its_line() {
    let err = toml_err("[johndoe]\nfull_name = \"John\nhashed_password = \"x\"\n");
    assert_eq!(err.line(), Some(2), "{err}");
}

#[test]
fn json_syntax_error_has_its_line() {
    let err = json_err("{\n  \"johndoe\": {\n    \"disabled\": false,\n  }\n}");
    assert_eq!(err.line(), Some(4), "{err}");
    assert!(!err.reason().contains("at line"), "{err}");
}

#[test]
fn hash_that_is_not_phc_is_refused_with_its_line() {
    let err = toml_err("[johndoe]\nfull_name = \"John Doe\"\nhashed_password = \"hunter2\"\n");
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(err.reason().contains("not a PHC string"), "{err}");
    assert!(err.reason().contains("hash-password"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn bcrypt_hash_is_refused() {
    let err = json_err(
        r#"{"johndoe": {"hashed_password": "$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW"}}"#,
    );
    assert_eq!(err.line(), Some(1), "{err}");
    assert!(!err.to_string().contains("EixZaYVK"), "{err}");
}

#[test]
fn hash_with_huge_memory_is_refused() {
    let err = toml_err(
        "[x]\nhashed_password = \"$argon2id$v=19$m=4194304,t=1,p=1$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc\"\n",
    );
    assert!(err.reason().contains("exceed"), "{err}");
}

#[test]
fn missing_hash_is_refused() {
    let err = toml_err("[johndoe]\nfull_name = \"John Doe\"\n");
    assert!(err.reason().contains("hashed_password"), "{err}");
    assert!(err.line().is_some(), "{err}");
}

#[test]
fn duplicate_user_in_toml_is_refused_with_its_line() {
    let text = format!("[johndoe]\nhashed_password = \"{TUTORIAL_HASH}\"\n\n[johndoe]\nhashed_password = \"{TUTORIAL_HASH}\"\n");
    let err = toml_err(&text);
    assert_eq!(err.line(), Some(4), "{err}");
}

#[test]
fn duplicate_user_in_json_is_refused_with_its_line() {
    let text = format!(
        "{{\n\"johndoe\": {{\"hashed_password\": \"{TUTORIAL_HASH}\"}},\n\"johndoe\": {{\"hashed_password\": \"{TUTORIAL_HASH}\"}}\n}}"
    );
    let err = json_err(&text);
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(err.reason().contains("appears twice"), "{err}");
}

#[test]
fn unknown_field_is_refused() {
    let err = toml_err(&format!(
        "[johndoe]\nhashed_pasword = \"{TUTORIAL_HASH}\"\n"
    ));
    assert!(err.reason().contains("hashed_pasword"), "{err}");
    assert!(!err.to_string().contains("wagCPX"), "{err}");
}

#[test]
fn username_differing_from_its_key_is_refused() {
    let err = json_err(&format!(
        "{{\"johndoe\": {{\"username\": \"jane\", \"hashed_password\": \"{TUTORIAL_HASH}\"}}}}"
    ));
    assert!(err.reason().contains("differs from the key"), "{err}");
}

#[test]
fn empty_username_is_refused() {
    let err = json_err(&format!(
        "{{\"\": {{\"hashed_password\": \"{TUTORIAL_HASH}\"}}}}"
    ));
    assert!(err.reason().contains("empty username"), "{err}");
}

#[test]
fn username_with_a_line_break_is_refused() {
    let err = json_err(&format!(
        "{{\"john\\ndoe\": {{\"hashed_password\": \"{TUTORIAL_HASH}\"}}}}"
    ));
    assert!(err.reason().contains("line break"), "{err}");
}

#[test]
fn invalid_scope_is_refused_with_its_line() {
    let err = toml_err(&format!(
        "[johndoe]\nhashed_password = \"{TUTORIAL_HASH}\"\nscopes = [\"me\", \"read write\"]\n"
    ));
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(err.reason().contains("invalid scope"), "{err}");
}

#[test]
fn a_hash_in_the_wrong_field_is_not_printed() {
    let err = toml_err(&format!(
        "[johndoe]\nhashed_password = \"{TUTORIAL_HASH}\"\ndisabled = \"{TUTORIAL_HASH}\"\n"
    ));
    assert_eq!(err.line(), Some(3), "{err}");
    let shown = err.to_string();
    assert!(
        !shown.contains("wagCPX") && !shown.contains("argon2"),
        "{shown}"
    );
    let err = json_err(&format!(
        "{{\"johndoe\": {{\"hashed_password\": \"{TUTORIAL_HASH}\", \"email\": [\"{TUTORIAL_HASH}\"]}}}}"
    ));
    assert!(!err.to_string().contains("wagCPX"), "{err}");
}

#[test]
fn top_level_must_be_a_table() {
    let err = json_err("[1, 2]");
    assert!(err.reason().contains("table of users"), "{err}");
}
