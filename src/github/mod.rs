//! The one place that talks to GitHub: App authentication, the operations
//! layer every other module calls, the single retry policy, typed webhook
//! events, recovery of deliveries GitHub could not hand us, and onboarding
//! of repositories that join an installation.

pub mod auth;
pub mod contact;
pub mod deliveries;
pub mod events;
pub mod onboarding;
pub mod ops;
pub mod retry;
mod types;

pub use auth::{AppAuth, AuthError, Clock, InstallationTokens, SystemClock};
pub use ops::{GitHubClient, OpsError};
pub use retry::RetryPolicy;
pub use types::*;
