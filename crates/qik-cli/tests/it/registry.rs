//! The plugins compiled into a binary are exactly the ones its features ask for.
