//! loom models live in `tests/`; they compile only with `RUSTFLAGS="--cfg loom"`.
