//! Remote keys.
