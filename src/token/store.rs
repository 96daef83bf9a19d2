//! User stores: the trait, the tutorial's user profile, and an in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

/// The FastAPI tutorial's user, as `GET /users/me` returns it.
///
/// ```
/// use tower_jwt_auth::token::UserProfile;
///
/// let user = UserProfile::new("johndoe")
///     .with_email("johndoe@example.com")
///     .with_full_name("John Doe");
/// assert_eq!(
///     serde_json::to_string(&user).unwrap(),
///     r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#,
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserProfile {
    /// The username: the token's `sub`.
    pub username: String,
    /// The e-mail address (`null` in JSON when unknown, as in FastAPI).
    pub email: Option<String>,
    /// The full name (`null` in JSON when unknown).
    pub full_name: Option<String>,
    /// Whether the account is disabled.
    pub disabled: bool,
}

impl UserProfile {
    /// A profile with only a username; active.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            ..Self::default()
        }
    }

    /// Sets the e-mail address.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the full name.
    #[must_use]
    pub fn with_full_name(mut self, full_name: impl Into<String>) -> Self {
        self.full_name = Some(full_name.into());
        self
    }

    /// Sets the `disabled` flag.
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }
}

/// What a [`UserStore`] knows about a user: the argon2 PHC hash of the password,
/// whether the account is disabled, the scopes it may be granted, and the
/// application's profile `P`.
///
/// `Debug` never prints the hash.
///
/// ```
/// use tower_jwt_auth::token::{StoredUser, UserProfile};
///
/// let user = StoredUser::from_profile(
///     UserProfile::new("johndoe").with_full_name("John Doe"),
///     "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc",
/// )
/// .with_scopes(["me", "items"]);
/// assert!(!user.is_disabled());
/// assert!(!format!("{user:?}").contains("argon2"));
/// ```
#[derive(Clone)]
pub struct StoredUser<P = UserProfile> {
    password_hash: String,
    disabled: bool,
    scopes: Vec<String>,
    profile: P,
}

impl<P: fmt::Debug> fmt::Debug for StoredUser<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredUser")
            .field("password_hash", &"[redacted]")
            .field("disabled", &self.disabled)
            .field("scopes", &self.scopes)
            .field("profile", &self.profile)
            .finish()
    }
}

impl<P> StoredUser<P> {
    /// An active user with `profile`, the PHC string `password_hash`, and no scopes.
    pub fn new(profile: P, password_hash: impl Into<String>) -> Self {
        Self {
            password_hash: password_hash.into(),
            disabled: false,
            scopes: Vec::new(),
            profile,
        }
    }

    /// Sets whether the account is disabled. This flag is what the token
    /// endpoint and [`StoreResolver::refuse_disabled`](super::StoreResolver::refuse_disabled)
    /// read; keep the profile's own flag, if it has one, in step.
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Sets the scopes the user may be granted.
    #[must_use]
    pub fn with_scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The PHC string of the password hash.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// Replaces the password hash.
    pub fn set_password_hash(&mut self, phc: impl Into<String>) {
        self.password_hash = phc.into();
    }

    /// Whether the account is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Sets whether the account is disabled.
    pub fn set_disabled(&mut self, disabled: bool) {
        self.disabled = disabled;
    }

    /// The scopes the user may be granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The profile.
    pub fn profile(&self) -> &P {
        &self.profile
    }

    /// The profile, mutably.
    pub fn profile_mut(&mut self) -> &mut P {
        &mut self.profile
    }

    /// Consumes `self`, returning the profile.
    pub fn into_profile(self) -> P {
        self.profile
    }
}

impl StoredUser<UserProfile> {
    /// A user from the tutorial's profile; `disabled` is taken from the profile.
    pub fn from_profile(profile: UserProfile, password_hash: impl Into<String>) -> Self {
        let disabled = profile.disabled;
        Self::new(profile, password_hash).with_disabled(disabled)
    }

    /// Sets `disabled` both here and in the profile.
    pub fn set_profile_disabled(&mut self, disabled: bool) {
        self.disabled = disabled;
        self.profile.disabled = disabled;
    }
}

/// A user store failed (a database is down). The token endpoint answers 503;
/// [`StoreResolver`](super::StoreResolver) answers with
/// [`AuthError::unavailable`](crate::AuthError::unavailable).
#[derive(Debug)]
pub struct StoreError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// Wraps the store's own error. It must not contain passwords or hashes.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the user store failed")
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The outcome of a lookup.
pub type Lookup<P> = Result<Option<StoredUser<P>>, StoreError>;

/// Where users live: looked up by the token endpoint (by the submitted
/// username) and by [`StoreResolver`](super::StoreResolver) for
/// [`AuthLayer`](crate::AuthLayer) (by the token's `sub`), so a user deleted or
/// disabled in the store is refused at once, not when its token expires.
///
/// Implement [`find`](Self::find) with an `async fn`; the future must be `Send`.
///
/// ```
/// use std::collections::HashMap;
/// use tower_jwt_auth::token::{StoreError, StoredUser, UserProfile, UserStore};
///
/// struct Db(HashMap<String, (UserProfile, String)>);
///
/// impl UserStore for Db {
///     type Profile = UserProfile;
///
///     async fn find(&self, username: &str) -> Result<Option<StoredUser>, StoreError> {
///         // A real store would query a database here.
///         Ok(self.0.get(username).map(|(p, h)| StoredUser::from_profile(p.clone(), h.clone())))
///     }
/// }
/// ```
pub trait UserStore: Send + Sync + 'static {
    /// The application's user, put into request extensions by
    /// [`StoreResolver`](super::StoreResolver).
    type Profile: Clone + Send + Sync + 'static;

    /// Looks a user up by username: `Ok(None)` if there is no such user.
    ///
    /// Usernames are compared as the store sees fit (exactly, for
    /// [`MemoryStore`]); the same string is looked up again from the token's
    /// `sub`.
    fn find(&self, username: &str) -> impl Future<Output = Lookup<Self::Profile>> + Send;

    /// Answers at once when the store can, without waiting (an in-memory table);
    /// `None` (the default) means "use [`find`](Self::find)". It lets
    /// [`StoreResolver`](super::StoreResolver) skip the async path of
    /// [`AuthLayer`](crate::AuthLayer) on every request.
    fn find_now(&self, username: &str) -> Option<Lookup<Self::Profile>> {
        let _ = username;
        None
    }

    /// Replaces the password hash of `username` with `new_hash`, a PHC string
    /// made with the current policy. The token endpoint calls it after a
    /// successful login when the stored hash was weaker than the policy
    /// ([`PasswordHasher::needs_rehash`](super::PasswordHasher::needs_rehash)).
    /// The default does nothing.
    ///
    /// A failure is logged (with the `tracing` feature) and the login still succeeds.
    fn update_hash(
        &self,
        username: &str,
        new_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (username, new_hash);
        async { Ok(()) }
    }

    /// Shows `visit` the stored password hashes (PHC strings), when the store
    /// can list them cheaply; one hash of each parameter set is enough. The
    /// default shows none.
    ///
    /// A [`TokenEndpoint`](super::TokenEndpoint) calls it once, when built,
    /// and raises its hasher's dummy hash to the costliest of them
    /// ([`PasswordHasher::calibrate_dummy`](super::PasswordHasher::calibrate_dummy)),
    /// so that an unknown username costs what a wrong password costs from the
    /// first request on. A store that shows none (a database) gets there at
    /// run time instead: every verification of a costlier stored hash raises
    /// the dummy, so unknown usernames answer measurably faster only until the
    /// first login of a user with each heavier parameter set.
    ///
    /// [`MemoryStore`] (and so a users file) shows all its hashes.
    fn for_each_password_hash(&self, visit: &mut dyn FnMut(&str)) {
        let _ = visit;
    }
}

impl<S: UserStore> UserStore for Arc<S> {
    type Profile = S::Profile;

    fn find(&self, username: &str) -> impl Future<Output = Lookup<Self::Profile>> + Send {
        (**self).find(username)
    }

    fn find_now(&self, username: &str) -> Option<Lookup<Self::Profile>> {
        (**self).find_now(username)
    }

    fn update_hash(
        &self,
        username: &str,
        new_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).update_hash(username, new_hash)
    }

    fn for_each_password_hash(&self, visit: &mut dyn FnMut(&str)) {
        (**self).for_each_password_hash(visit);
    }
}

/// An in-memory [`UserStore`], shared by its clones. Load one from a users file
/// with [`MemoryStore::from_file`].
///
/// It answers lookups at once ([`UserStore::find_now`]) and keeps rehashed
/// passwords in memory (not on disk).
///
/// ```
/// use tower_jwt_auth::token::{MemoryStore, StoredUser, UserProfile};
///
/// let store = MemoryStore::new().with_user(StoredUser::from_profile(
///     UserProfile::new("johndoe"),
///     "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc",
/// ));
/// assert!(store.get("johndoe").is_some());
/// store.remove("johndoe");
/// assert!(store.is_empty());
/// ```
pub struct MemoryStore<P = UserProfile> {
    users: Arc<RwLock<HashMap<String, StoredUser<P>>>>,
}

impl<P> Clone for MemoryStore<P> {
    fn clone(&self) -> Self {
        Self {
            users: self.users.clone(),
        }
    }
}

impl<P> Default for MemoryStore<P> {
    fn default() -> Self {
        Self {
            users: Arc::default(),
        }
    }
}

impl<P> fmt::Debug for MemoryStore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("users", &self.len())
            .finish()
    }
}

impl MemoryStore<UserProfile> {
    /// An empty store of [`UserProfile`]s. For another profile type, use
    /// `MemoryStore::<P>::default()`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<P> MemoryStore<P> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, StoredUser<P>>> {
        self.users.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, StoredUser<P>>> {
        self.users.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or replaces `username`.
    pub fn insert(
        &self,
        username: impl Into<String>,
        user: StoredUser<P>,
    ) -> Option<StoredUser<P>> {
        self.write().insert(username.into(), user)
    }

    /// Removes `username`; tokens already issued to it are refused from then on
    /// by [`StoreResolver`](super::StoreResolver).
    pub fn remove(&self, username: &str) -> Option<StoredUser<P>> {
        self.write().remove(username)
    }

    /// Changes `username` in place; `false` if there is no such user.
    pub fn update(&self, username: &str, f: impl FnOnce(&mut StoredUser<P>)) -> bool {
        match self.write().get_mut(username) {
            Some(user) => {
                f(user);
                true
            }
            None => false,
        }
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The usernames, in no particular order.
    pub fn usernames(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
}

impl<P: Clone> MemoryStore<P> {
    /// A copy of `username`'s entry.
    pub fn get(&self, username: &str) -> Option<StoredUser<P>> {
        self.read().get(username).cloned()
    }
}

impl MemoryStore<UserProfile> {
    /// Adds `user` under its profile's username (builder style).
    #[must_use]
    pub fn with_user(self, user: StoredUser<UserProfile>) -> Self {
        let name = user.profile.username.clone();
        self.insert(name, user);
        self
    }
}

impl<P: Clone + Send + Sync + 'static> UserStore for MemoryStore<P> {
    type Profile = P;

    fn find(&self, username: &str) -> impl Future<Output = Lookup<P>> + Send {
        std::future::ready(Ok(self.get(username)))
    }

    fn find_now(&self, username: &str) -> Option<Lookup<P>> {
        Some(Ok(self.get(username)))
    }

    fn update_hash(
        &self,
        username: &str,
        new_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.update(username, |u| u.set_password_hash(new_hash));
        std::future::ready(Ok(()))
    }

    fn for_each_password_hash(&self, visit: &mut dyn FnMut(&str)) {
        for user in self.read().values() {
            visit(user.password_hash());
        }
    }
}
