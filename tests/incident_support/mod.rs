//! Test support for the incident and memory suites: real databases and Redis.
#![allow(dead_code)]

pub mod db;
