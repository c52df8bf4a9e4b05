//! An in-process, stateful fake of GitHub for tests, held to GitHub's own
//! OpenAPI description. See `testkit/README.md` for how to use it.

mod auth;
mod failures;
mod git;
mod handlers;
pub mod openapi;
mod seed;
mod server;
mod smart_http;
mod state;
mod zip;

pub use failures::Failure;
pub use seed::{DeliverySeed, FakeError, FakeGitHub, WorkflowRunSeed};
pub use server::VIOLATION_STATUS;
pub use state::{
    AppJwt, CheckRun, Comment, Dispatch, HookDelivery, Issue, Job, Label, PullRequest,
    RecordedRequest, Repository, Violation, ViolationKind, World,
};

/// The App's private key (PKCS#1 PEM, as GitHub hands them out). Test-only.
pub const APP_PRIVATE_KEY_PEM: &str = include_str!("keys/app.pem");
/// The matching public key the fake verifies App JWTs with.
pub const APP_PUBLIC_KEY_PEM: &str = include_str!("keys/app.pub.pem");
