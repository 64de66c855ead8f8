//! Reading what git knows: the index and pathspec matching.
