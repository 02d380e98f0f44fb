//! placeholder replaced by the mutex reference
