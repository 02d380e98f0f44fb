//! How much of a caller's input an error message quotes: at most
//! [`QUOTE_MAX`] bytes, so a 10 MB value or a 1 MiB name never becomes a
//! 10 MB message.

/// At most this many bytes of user input are quoted in an error message.
pub(crate) const QUOTE_MAX: usize = 64;

/// `s`, cut to at most [`QUOTE_MAX`] bytes (on a character boundary) with its
/// full length said after it when cut.
pub(crate) fn bounded(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return s.to_owned();
    }
    let mut end = QUOTE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}
