//! Bad configuration gets a clear error pointing at the text.
