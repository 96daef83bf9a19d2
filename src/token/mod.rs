//! The OAuth 2.0 token endpoint (password grant), argon2 password hashing and
//! user stores: the other half of FastAPI's "OAuth2 with Password (and hashing),
//! Bearer with JWT tokens".
//!
//! DOCS PLACEHOLDER

mod endpoint;
mod form;
mod password;
mod resolve;
mod store;
mod throttle;
mod users_file;

pub use endpoint::{
    ResponseFuture, TokenEndpoint, TokenEndpointBuilder, DEFAULT_MAX_BODY_LEN,
    DEFAULT_MAX_PASSWORD_LEN, DEFAULT_TTL,
};
pub use password::{
    HashError, PasswordHasher, PasswordHasherBuilder, Verified, DEFAULT_QUEUE_WAIT,
    MAX_VERIFY_M_COST, MAX_VERIFY_P_COST, MAX_VERIFY_T_COST,
};
pub use resolve::{ResolveFuture, StoreResolver};
pub use store::{Lookup, MemoryStore, StoreError, StoredUser, UserProfile, UserStore};
pub use throttle::Throttle;
pub use users_file::{UsersFile, UsersFileError, UsersFileFormat, MAX_USERNAME_LEN};
