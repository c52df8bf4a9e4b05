//! The agent contract (DESIGN.md section 4), as carried in the JSON body of
//! the AgentCore runtime's `POST /invocations`. Versioned: a body whose
//! `version` is newer than [`CONTRACT_VERSION`] is rejected, never guessed at.

use serde::{Deserialize, Serialize};

use super::AgentError;

/// The contract version this build reads and writes.
pub const CONTRACT_VERSION: u32 = 1;

/// An agent's name (`scraper-fixer`, `scraper-generator`, `healer`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentName(pub String);

/// A scraper's name as the repository names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScraperName(pub String);

/// What the agent is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Fix,
    Generate,
    Update,
    Check,
    Analyse,
}

/// A file of the scraper (module, tests, fixtures), path relative to the
/// repository root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub content: String,
}

/// The format of a captured response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentFormat {
    Html,
    Json,
}

/// A response body: the scraper's saved fixture, or the failing response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub format: DocumentFormat,
    pub body: String,
    /// Where it is stored in the repository (fixtures), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// What the incident gathered. Text here is data, never instructions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_excerpt: Option<String>,
    /// The scraper's saved fixture: what its selectors were written against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<Document>,
    /// The response the failing run received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Document>,
}

/// A remembered fix of the same error class (from memory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryHit {
    pub error_class: String,
    pub strategy: Strategy,
    pub before: String,
    pub after: String,
    /// Success rate of the strategy on this class, in [0, 1].
    pub success_rate: f64,
}

/// An earlier attempt on the same incident and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlierAttempt {
    pub attempt_id: String,
    pub strategy: Strategy,
    pub outcome: String,
    #[serde(default)]
    pub summary: String,
}

/// Limits the agent must stay within.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<u64>,
}

/// One invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRequest {
    pub version: u32,
    pub agent: AgentName,
    pub task: TaskKind,
    pub scraper: ScraperName,
    pub files: Vec<SourceFile>,
    #[serde(default)]
    pub evidence: Evidence,
    #[serde(default)]
    pub memory: Vec<MemoryHit>,
    #[serde(default)]
    pub attempts: Vec<EarlierAttempt>,
    /// Reviewer hints (`/retry-fix <hint>`).
    #[serde(default)]
    pub hints: Vec<String>,
    #[serde(default)]
    pub budget: Budget,
}

/// How a fix was made.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// CSS/XPath selector literals re-derived from the new page.
    SelectorHeal,
    /// JSON key literals re-derived from the new response.
    JsonKeyHeal,
    /// No fix: the agent refuses (see the rationale).
    Refuse,
    /// Anything a model-backed agent did.
    Other(String),
}

/// The change to one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    /// The file's whole new content.
    Content { content: String },
    /// A unified diff against the file as sent.
    Diff { unified_diff: String },
}

/// One edited file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub path: String,
    #[serde(flatten)]
    pub change: Change,
}

/// What the invocation cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// The agent's answer. `confidence` is the agent's own say-so, one input of
/// the calibrated confidence, never the decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub version: u32,
    pub edits: Vec<Edit>,
    pub strategy: Strategy,
    pub root_cause: String,
    pub confidence: f64,
    pub rationale: String,
    #[serde(default)]
    pub usage: Usage,
}

impl AgentRequest {
    /// Parses a request body, rejecting versions this build does not speak.
    pub fn from_json(body: &str) -> Result<Self, AgentError> {
        let version = version_of(body)?;
        check_version(version)?;
        serde_json::from_str(body).map_err(|e| AgentError::Failed {
            agent: "contract".into(),
            reason: format!("invalid request: {e}"),
        })
    }
}

impl Proposal {
    /// Parses a response body, rejecting versions this build does not speak.
    pub fn from_json(body: &str) -> Result<Self, AgentError> {
        let version = version_of(body)?;
        check_version(version)?;
        serde_json::from_str(body).map_err(|e| AgentError::Failed {
            agent: "contract".into(),
            reason: format!("invalid proposal: {e}"),
        })
    }
}

fn version_of(body: &str) -> Result<u32, AgentError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: Option<u32>,
    }
    let v: Versioned = serde_json::from_str(body).map_err(|e| AgentError::Failed {
        agent: "contract".into(),
        reason: format!("body is not a JSON object with a version: {e}"),
    })?;
    v.version.ok_or(AgentError::Missing("version"))
}

fn check_version(found: u32) -> Result<(), AgentError> {
    if found == 0 || found > CONTRACT_VERSION {
        return Err(AgentError::Version {
            found,
            supported: CONTRACT_VERSION,
        });
    }
    Ok(())
}
