//! Agents: whatever proposes a fix. One contract ([`contract`]), one trait
//! ([`Agent`]), several backends; [`healer::Healer`] is the built-in one that
//! needs no model.

pub mod contract;
pub mod healer;

use std::future::Future;
use std::pin::Pin;

pub use contract::{AgentRequest, Proposal};

/// Why an agent produced no proposal at all (a refusal is a proposal).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent contract version {found} is not supported (this build speaks {supported})")]
    Version { found: u32, supported: u32 },
    #[error("agent {agent} does not handle task {task:?}")]
    Unsupported {
        agent: String,
        task: contract::TaskKind,
    },
    #[error("request is missing {0}")]
    Missing(&'static str),
    #[error("agent {agent} failed: {reason}")]
    Failed { agent: String, reason: String },
}

/// An agent: takes a task, returns a proposal. Implementors write a plain
/// `async fn`; callers holding a `dyn` use [`DynAgent`].
pub trait Agent: Send + Sync {
    /// The agent's name as the contract carries it.
    fn name(&self) -> &str;
    /// Runs one task. A refusal is `Ok` with no edits and a low confidence.
    fn invoke(
        &self,
        request: &AgentRequest,
    ) -> impl Future<Output = Result<Proposal, AgentError>> + Send;
}

/// The boxed future a [`DynAgent`] returns.
pub type AgentFuture<'a> = Pin<Box<dyn Future<Output = Result<Proposal, AgentError>> + Send + 'a>>;

/// Object-safe form of [`Agent`], implemented for every `Agent`, so backends
/// can be chosen at run time (`Box<dyn DynAgent>`).
pub trait DynAgent: Send + Sync {
    fn name(&self) -> &str;
    fn invoke_boxed<'a>(&'a self, request: &'a AgentRequest) -> AgentFuture<'a>;
}

impl<A: Agent> DynAgent for A {
    fn name(&self) -> &str {
        Agent::name(self)
    }
    fn invoke_boxed<'a>(&'a self, request: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(self.invoke(request))
    }
}
