//! Fixwright's own configuration.
