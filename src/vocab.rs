//! Outcomes shared by both maps' operations.

use std::fmt;

/// Why a conditional removal (`remove_if`) removed nothing.
///
/// ```
/// use epochmap::{NotRemoved, ShardMap};
///
/// let map = ShardMap::new();
/// map.insert("a", 1);
/// assert_eq!(map.remove_if("a", |_, v| *v > 5), Err(NotRemoved::Refused));
/// assert_eq!(map.remove_if("b", |_, _| true), Err(NotRemoved::Absent));
/// assert_eq!(map.remove_if("a", |_, v| *v == 1), Ok(("a", 1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotRemoved {
    /// The key was absent (the predicate did not run).
    Absent,
    /// The key was present and the predicate returned `false`.
    Refused,
}

impl fmt::Display for NotRemoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotRemoved::Absent => "the key was absent",
            NotRemoved::Refused => "the predicate refused the removal",
        })
    }
}

impl std::error::Error for NotRemoved {}
