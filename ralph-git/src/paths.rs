//! Conversions between repository paths (bytes, `/`-separated) and native paths. Lossless on Unix, where the
//! conversions cannot fail; elsewhere a name that is not valid Unicode is converted lossily.

use std::path::{Path, PathBuf};

use gix::bstr::{BStr, BString, ByteSlice};

/// The native path of the repository-relative `path`.
pub(crate) fn to_native(path: &BStr) -> PathBuf {
    gix::path::from_bstr(path)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_else(|_| PathBuf::from(path.to_str_lossy().into_owned()))
}

/// The repository form (`/`-separated bytes) of the relative native `path`.
pub(crate) fn to_repo(path: &Path) -> BString {
    match gix::path::into_bstr(path) {
        Ok(bytes) => gix::path::to_unix_separators_on_windows(bytes).into_owned(),
        Err(_) => gix::path::to_unix_separators_on_windows(BString::from(
            path.to_string_lossy().into_owned(),
        ))
        .into_owned(),
    }
}
