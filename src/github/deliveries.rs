//! Missed-delivery recovery.
