//! Differential driver (being written).
