//! Python environments for scraper repositories, provisioned like pre-commit
//! does: one virtual environment per repository and set of pinned tools, built
//! from the repository's own requirement files with the interpreter it asks
//! for, cached by a hash of its inputs and built atomically.
//!
//! The repair engine's replay and the quality gates run in these environments.

mod interpreter;
mod provision;

pub use interpreter::{Interpreter, InterpreterError, PythonRequest, PythonVersion, RequestSource};
pub use provision::{EnvInputs, ProvisionError, Provisioner, PythonEnv};
