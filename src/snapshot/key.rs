//! How a file's path is held as text: the key under which a snapshot records a file, and the
//! form every change list, journal line and git pathspec of autodev uses.
//!
//! A key is the path relative to the project root with `/` separators. Unix file names are
//! bytes, not text: a name that is valid UTF-8 is its own key, and each byte of a name that is
//! not is held as one character of the last private-use block of Unicode (U+10FF80 to U+10FFFF
//! stand for bytes 0x80 to 0xFF). The mapping is reversible, so such a file can still be
//! restored, hashed and committed by its exact name; [`bytes`] gives the name back for git and
//! [`path`] for the file system. A valid UTF-8 name made of those private-use characters would
//! be read back as the bytes they stand for: no real name uses them (`docs/change-tracking.md`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The first character that stands for a raw byte: byte `b` (0x80 and up) is `BASE + b`.
const BASE: u32 = 0x10_FF00;

/// The key of a name or relative path given as bytes.
pub fn of_bytes(bytes: &[u8]) -> String {
    let mut key = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        key.push_str(chunk.valid());
        for &b in chunk.invalid() {
            // Bytes below 0x80 are always valid UTF-8, so every invalid byte has a stand-in.
            key.extend(char::from_u32(BASE + u32::from(b)));
        }
    }
    key
}

/// The key of a name or relative path as the file system gave it.
pub fn of_os(name: &OsStr) -> String {
    match name.to_str() {
        Some(text) => text.to_string(),
        None => of_bytes(name.as_bytes()),
    }
}

/// The exact bytes of the name a key stands for.
pub fn bytes(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len());
    let mut buf = [0u8; 4];
    for c in key.chars() {
        match u32::from(c).checked_sub(BASE) {
            Some(b) if b >= 0x80 => out.push(b as u8),
            _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out
}

/// The file a key names under `root`.
pub fn path(root: &Path, key: &str) -> PathBuf {
    if key.is_ascii() {
        return root.join(key);
    }
    root.join(OsString::from_vec(bytes(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_are_their_own_keys() {
        for name in ["src/lib.rs", "dir with space/ä ö.txt", "日本/語", ""] {
            assert_eq!(of_bytes(name.as_bytes()), name);
            assert_eq!(bytes(name), name.as_bytes());
        }
    }

    #[test]
    fn names_that_are_not_utf8_go_and_come_back_exactly() {
        let raw: &[u8] = b"src/caf\xe9/\xff\xfe-x\xc3.txt";
        let key = of_bytes(raw);
        assert!(key.starts_with("src/caf"));
        assert!(key.ends_with(".txt"));
        assert_eq!(bytes(&key), raw);
        assert_eq!(of_os(OsStr::from_bytes(raw)), key);
        assert_eq!(
            path(Path::new("/r"), &key).as_os_str().as_bytes(),
            b"/r/src/caf\xe9/\xff\xfe-x\xc3.txt"
        );
    }
}
