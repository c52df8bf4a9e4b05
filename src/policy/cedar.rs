//! The repository policy as a Cedar policy set, and decisions made with it.
//!
//! The set is generated from `.github/fixwright.yml` for one scraper, plus the
//! `forbid` statements of an optional `.github/fixwright.cedar`. Entity types
//! and actions are those of [`SCHEMA`] (documented in `docs/policy.md`), so the
//! same text can be loaded into AgentCore Policy. Nothing but the policy file,
//! the user's Cedar file and the scraper's validated name reaches the policy
//! text: everything a proposal carries (paths, agent name) is entity data.

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityId, EntityTypeName,
    EntityUid, Policy, PolicyId, PolicySet, Request, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde_json::json;

use super::file::RepoPolicy;
use super::glob::{Pattern, ScraperName, path_problem};
use super::proposal::{Decision, ProposalFacts, Refusal, Verdict};
use super::rules;

/// The Cedar schema every generated and user policy is validated against.
pub const SCHEMA: &str = r#"namespace Fixwright {
  // Who proposes a change: the built-in healer or a model-backed agent.
  entity Agent;
  // One repository-relative path a proposal touches.
  entity File = { path: String };
  // One proposal, with the facts Fixwright measured about it.
  entity Proposal = {
    scraper: String,
    file_count: Long,
    diff_lines: Long,
    attempt: Long,
    agent_calls_last_hour: Long,
    agent_calls_last_day: Long,
    band: String,
    failed_gates: Long,
    replay: String,
  };
  // May the proposal write this path?
  action touch appliesTo { principal: Agent, resource: File };
  // May the proposal be committed to its repair branch and proposed?
  action apply appliesTo { principal: Agent, resource: Proposal };
  // May it be merged without a human?
  action merge appliesTo { principal: Agent, resource: Proposal };
}
"#;

/// Why a Cedar policy set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CedarError {
    #[error(".github/fixwright.cedar:{line}: {message}")]
    UserSyntax { line: usize, message: String },
    #[error(
        ".github/fixwright.cedar:{line}: statement {index} is a `permit`; only `forbid` is accepted, since the file may narrow the policy but never widen it"
    )]
    UserPermit { index: usize, line: usize },
    #[error(".github/fixwright.cedar: templates are not accepted")]
    UserTemplate,
    #[error(".github/fixwright.cedar: {0}")]
    UserInvalid(String),
    #[error("cannot read {file}: {source}")]
    Read {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generated Cedar policy `{id}` is invalid: {message}")]
    Generated { id: String, message: String },
}

/// What one of our policy ids stands for when it refuses.
#[derive(Clone, Debug)]
enum Rule {
    Protected,
    /// Files of longer-named scrapers the scraper's patterns also cover.
    Claimed(Vec<(ScraperName, Vec<Pattern>)>),
    Malformed,
    NoChanges,
    DiffSize,
    Attempts,
    HourlyBudget,
    DailyBudget,
    HighBand,
    GreenGates,
    Replay,
    AutoMergeOff,
    /// Permits never refuse.
    Permit,
    User {
        label: String,
        reason: Option<String>,
    },
}

/// A validated policy set for one scraper of one repository.
#[derive(Debug)]
pub struct CedarPolicy {
    scraper: ScraperName,
    policies: PolicySet,
    /// The generated `permit`s alone: tells "nothing permits it" apart from
    /// "a forbid fired", since Cedar names only the forbids when both hold.
    permits: PolicySet,
    schema: Schema,
    rules: HashMap<PolicyId, Rule>,
    order: HashMap<PolicyId, usize>,
    limits: RepoPolicy,
}

const NS: &str = "Fixwright";

fn like_any(patterns: &[Pattern]) -> String {
    patterns
        .iter()
        .map(|p| format!("resource.path like {}", p.to_cedar_like()))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// The generated policies (id, rule, text) for a repository policy and a scraper,
/// among the repository's `others`.
fn generate(
    policy: &RepoPolicy,
    scraper: &ScraperName,
    others: &[ScraperName],
) -> Vec<(&'static str, Rule, String)> {
    let touch = format!(r#"principal, action == {NS}::Action::"touch", resource is {NS}::File"#);
    let proposal = format!(
        r#"principal, action in [{NS}::Action::"apply", {NS}::Action::"merge"], resource is {NS}::Proposal"#
    );
    let merge =
        format!(r#"principal, action == {NS}::Action::"merge", resource is {NS}::Proposal"#);
    let mut out = Vec::new();
    let own = policy.scraper_patterns(scraper);
    if !own.is_empty() {
        out.push((
            "scraper-files",
            Rule::Permit,
            format!("permit ({touch}) when {{ {} }};", like_any(&own)),
        ));
    }
    out.push((
        "protected-paths",
        Rule::Protected,
        format!(
            "forbid ({touch}) when {{ {} }};",
            like_any(&policy.protected_patterns(scraper))
        ),
    ));
    let claims = policy.claimed_by_others(scraper, others);
    if !claims.is_empty() {
        let patterns: Vec<Pattern> = claims
            .iter()
            .flat_map(|(_, patterns)| patterns.iter().cloned())
            .collect();
        out.push((
            "other-scrapers-files",
            Rule::Claimed(claims),
            format!("forbid ({touch}) when {{ {} }};", like_any(&patterns)),
        ));
    }
    out.push((
        "malformed-path",
        Rule::Malformed,
        format!(
            r#"forbid ({touch}) when {{ resource.path == "" || resource.path like "/*" || resource.path like "*/" || resource.path like "*//*" || resource.path like "*\\*" || resource.path == "." || resource.path like "./*" || resource.path like "*/./*" || resource.path like "*/." || resource.path == ".." || resource.path like "../*" || resource.path like "*/../*" || resource.path like "*/.." }};"#
        ),
    ));
    out.push(("apply", Rule::Permit, format!("permit ({proposal});")));
    out.push((
        "no-changes",
        Rule::NoChanges,
        format!("forbid ({proposal}) when {{ resource.file_count == 0 }};"),
    ));
    let limit_rules = [
        (
            "diff-size-limit",
            Rule::DiffSize,
            "diff_lines",
            policy.limits.max_diff_lines,
        ),
        (
            "attempt-cap",
            Rule::Attempts,
            "attempt",
            policy.limits.max_attempts,
        ),
        (
            "hourly-agent-budget",
            Rule::HourlyBudget,
            "agent_calls_last_hour",
            policy.agent_budget.calls_per_hour,
        ),
        (
            "daily-agent-budget",
            Rule::DailyBudget,
            "agent_calls_last_day",
            policy.agent_budget.calls_per_day,
        ),
    ];
    for (id, rule, attr, limit) in limit_rules {
        out.push((
            id,
            rule,
            format!("forbid ({proposal}) when {{ resource.{attr} > {limit} }};"),
        ));
    }
    out.push(("merge", Rule::Permit, format!("permit ({merge});")));
    out.push((
        "merge-needs-high-band",
        Rule::HighBand,
        format!(r#"forbid ({merge}) unless {{ resource.band == "high" }};"#),
    ));
    out.push((
        "merge-needs-green-gates",
        Rule::GreenGates,
        format!("forbid ({merge}) when {{ resource.failed_gates > 0 }};"),
    ));
    out.push((
        "merge-needs-replay",
        Rule::Replay,
        format!(r#"forbid ({merge}) unless {{ resource.replay == "passed" }};"#),
    ));
    if !policy.merge.auto_merge {
        out.push((
            "auto-merge-off",
            Rule::AutoMergeOff,
            format!("forbid ({merge});"),
        ));
    }
    out
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of the `index`-th (0-based) `permit`/`forbid` statement, found
/// by scanning outside `//` comments and string literals.
fn statement_line(text: &str, index: usize) -> usize {
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        let mut code = String::new();
        let mut in_string = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_string => {
                    chars.next();
                }
                '"' => in_string = !in_string,
                '/' if !in_string && chars.peek() == Some(&'/') => break,
                c if !in_string => code.push(c),
                _ => {}
            }
        }
        for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if word == "permit" || word == "forbid" {
                if seen == index {
                    return n + 1;
                }
                seen += 1;
            }
        }
    }
    0
}

impl CedarPolicy {
    /// Generates and validates the policy set for `scraper`, among the
    /// repository's other scrapers `others` (whose files it must leave alone when
    /// its patterns also cover them), adding the `forbid` statements of
    /// `user_cedar` (the text of `.github/fixwright.cedar`). A user `permit`,
    /// template or statement that does not validate against [`SCHEMA`] is an error.
    pub fn build(
        policy: &RepoPolicy,
        scraper: &ScraperName,
        others: &[ScraperName],
        user_cedar: Option<&str>,
    ) -> Result<Self, CedarError> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|err| CedarError::Generated {
                id: "schema".to_owned(),
                message: err.to_string(),
            })?;
        let mut policies = PolicySet::new();
        let mut permits = PolicySet::new();
        let mut rules = HashMap::new();
        let mut order = HashMap::new();
        for (id, rule, body) in generate(policy, scraper, others) {
            // The annotation travels with the text to AgentCore Policy.
            let text = format!("@id(\"{id}\")\n{body}");
            let generated = |message: String| CedarError::Generated {
                id: id.to_owned(),
                message,
            };
            let parsed = Policy::parse(Some(PolicyId::new(id)), &text)
                .map_err(|err| generated(err.to_string()))?;
            policies
                .add(parsed)
                .map_err(|err| generated(err.to_string()))?;
            order.insert(PolicyId::new(id), order.len());
            if matches!(rule, Rule::Permit) {
                let again = Policy::parse(Some(PolicyId::new(id)), &text)
                    .map_err(|err| generated(err.to_string()))?;
                permits
                    .add(again)
                    .map_err(|err| generated(err.to_string()))?;
            }
            rules.insert(PolicyId::new(id), rule);
        }
        let generated_ok =
            Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if let Some(err) = generated_ok.validation_errors().next() {
            return Err(CedarError::Generated {
                id: err.policy_id().to_string(),
                message: err.to_string(),
            });
        }

        if let Some(text) = user_cedar {
            let user = PolicySet::from_str(text).map_err(|err| {
                let line = err
                    .labels()
                    .and_then(|mut labels| labels.next())
                    .map(|label| line_at(text, label.offset()))
                    .unwrap_or(0);
                CedarError::UserSyntax {
                    line,
                    message: err.to_string(),
                }
            })?;
            if user.templates().next().is_some() {
                return Err(CedarError::UserTemplate);
            }
            // `from_str` names statements policy0, policy1, ... in order.
            let mut statements: Vec<(usize, &Policy)> = user
                .policies()
                .map(|p| {
                    let id = p.id().to_string();
                    let index = id
                        .strip_prefix("policy")
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(usize::MAX);
                    (index, p)
                })
                .collect();
            statements.sort_by_key(|(index, _)| *index);
            for (index, statement) in statements {
                if statement.effect() == Effect::Permit {
                    return Err(CedarError::UserPermit {
                        index: index + 1,
                        line: statement_line(text, index),
                    });
                }
                let id = PolicyId::new(format!("user-{index}"));
                let label = statement
                    .annotation("id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("statement {}", index + 1));
                let reason = statement.annotation("reason").map(str::to_owned);
                policies
                    .add(statement.new_id(id.clone()))
                    .map_err(|err| CedarError::UserInvalid(err.to_string()))?;
                order.insert(id.clone(), order.len());
                rules.insert(id, Rule::User { label, reason });
            }
            let checked =
                Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
            if let Some(err) = checked.validation_errors().next() {
                return Err(CedarError::UserInvalid(err.to_string()));
            }
        }
        Ok(Self {
            scraper: scraper.clone(),
            policies,
            permits,
            schema,
            rules,
            order,
            limits: policy.clone(),
        })
    }

    /// Builds the set for `scraper` among `others` with the repository's own
    /// `.github/fixwright.cedar` under `repo_root`, when there is one.
    pub fn load(
        repo_root: &std::path::Path,
        policy: &RepoPolicy,
        scraper: &ScraperName,
        others: &[ScraperName],
    ) -> Result<Self, CedarError> {
        let file = repo_root.join(super::file::CEDAR_FILE);
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::build(policy, scraper, others, Some(&text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Self::build(policy, scraper, others, None)
            }
            Err(source) => Err(CedarError::Read { file, source }),
        }
    }

    /// The whole policy set as Cedar text (for `docs/`, AgentCore Policy and
    /// `fixwright config check`).
    pub fn to_cedar(&self) -> String {
        let mut policies: Vec<&Policy> = self.policies.policies().collect();
        // Generated first in generation order, then the user's in file order.
        policies.sort_by_key(|p| self.order.get(p.id()).copied().unwrap_or(usize::MAX));
        policies
            .iter()
            .map(|p| match self.rules.get(p.id()) {
                Some(Rule::User { label, .. }) => format!(
                    "// from .github/fixwright.cedar ({label})\n{}",
                    p.to_string().trim()
                ),
                _ => p.to_string().trim().to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The scraper this set was generated for.
    pub fn scraper(&self) -> &ScraperName {
        &self.scraper
    }

    /// Decides on a proposal: every touched path must be allowed (`touch`)
    /// and the proposal itself (`apply`, then `merge`). Any evaluation
    /// error refuses. Facts for another scraper are refused outright.
    pub fn decide(&self, facts: &ProposalFacts) -> Decision {
        if facts.scraper != self.scraper {
            let refusal = Refusal::EvaluationError {
                message: format!(
                    "policy was generated for scraper `{}`, the proposal is for `{}`",
                    self.scraper, facts.scraper
                ),
            };
            return Decision {
                apply: Verdict::from_refusals(vec![refusal.clone()]),
                merge: Verdict::from_refusals(vec![refusal]),
            };
        }
        let mut paths: Vec<&String> = facts.paths.iter().collect();
        paths.sort();
        paths.dedup();
        let entities = match self.entities(facts, &paths) {
            Ok(entities) => entities,
            Err(message) => {
                let refusal = Refusal::EvaluationError { message };
                return Decision {
                    apply: Verdict::from_refusals(vec![refusal.clone()]),
                    merge: Verdict::from_refusals(vec![refusal]),
                };
            }
        };
        let agent = uid("Agent", &facts.agent);
        let proposal = uid("Proposal", "proposal");

        let mut touch = Vec::new();
        for path in paths {
            let mut refusals =
                self.ask(&agent, "touch", &uid("File", path), &entities, facts, path);
            let cedar_flagged = refusals
                .iter()
                .any(|r| matches!(r, Refusal::MalformedPath { .. }));
            // Control characters cannot be spotted by `like`; the same check
            // the rules use is applied here.
            if let (false, Some(problem)) = (cedar_flagged, path_problem(path)) {
                refusals.push(Refusal::MalformedPath {
                    path: path.clone(),
                    problem: problem.to_owned(),
                });
            }
            touch.extend(refusals);
        }
        let mut apply = touch.clone();
        apply.extend(self.ask(&agent, "apply", &proposal, &entities, facts, ""));
        let mut merge = touch;
        merge.extend(self.ask(&agent, "merge", &proposal, &entities, facts, ""));
        Decision {
            apply: Verdict::from_refusals(apply),
            merge: Verdict::from_refusals(merge),
        }
    }

    fn entities(&self, facts: &ProposalFacts, paths: &[&String]) -> Result<Entities, String> {
        let mut list = vec![
            json!({"uid": {"type": format!("{NS}::Agent"), "id": facts.agent}, "attrs": {}, "parents": []}),
            json!({
                "uid": {"type": format!("{NS}::Proposal"), "id": "proposal"},
                "attrs": {
                    "scraper": facts.scraper.as_str(),
                    "file_count": facts.paths.len(),
                    "diff_lines": facts.diff_lines,
                    "attempt": facts.attempt,
                    "agent_calls_last_hour": facts.agent_calls_last_hour,
                    "agent_calls_last_day": facts.agent_calls_last_day,
                    "band": facts.band.as_str(),
                    "failed_gates": facts.failed_gates.len(),
                    "replay": facts.replay.as_str(),
                },
                "parents": []
            }),
        ];
        for path in paths {
            list.push(json!({
                "uid": {"type": format!("{NS}::File"), "id": path},
                "attrs": {"path": path},
                "parents": []
            }));
        }
        Entities::from_json_value(serde_json::Value::Array(list), Some(&self.schema))
            .map_err(|err| err.to_string())
    }

    /// One authorization request, turned into refusals.
    fn ask(
        &self,
        agent: &EntityUid,
        action: &str,
        resource: &EntityUid,
        entities: &Entities,
        facts: &ProposalFacts,
        path: &str,
    ) -> Vec<Refusal> {
        let request = match Request::new(
            agent.clone(),
            uid("Action", action),
            resource.clone(),
            Context::empty(),
            Some(&self.schema),
        ) {
            Ok(request) => request,
            Err(err) => {
                return vec![Refusal::EvaluationError {
                    message: err.to_string(),
                }];
            }
        };
        let authorizer = Authorizer::new();
        let response = authorizer.is_authorized(&request, &self.policies, entities);
        let mut refusals: Vec<Refusal> = response
            .diagnostics()
            .errors()
            .map(|err| Refusal::EvaluationError {
                message: err.to_string(),
            })
            .collect();
        if response.decision() == CedarDecision::Allow {
            return refusals;
        }
        for id in response.diagnostics().reason() {
            if let Some(refusal) = self.refusal(id, facts, path) {
                refusals.push(refusal);
            }
        }
        let permitted = authorizer
            .is_authorized(&request, &self.permits, entities)
            .decision()
            == CedarDecision::Allow;
        if !permitted {
            refusals.push(match action {
                "touch" => Refusal::OutsideScraperFiles {
                    path: path.to_owned(),
                },
                _ => Refusal::EvaluationError {
                    message: format!("no policy permits `{action}`"),
                },
            });
        }
        refusals
    }

    fn refusal(&self, id: &PolicyId, facts: &ProposalFacts, path: &str) -> Option<Refusal> {
        let limits = &self.limits;
        Some(match self.rules.get(id)? {
            Rule::Permit => return None,
            Rule::Protected => Refusal::ProtectedPath {
                path: path.to_owned(),
            },
            Rule::Claimed(claims) => Refusal::AnotherScrapersFile {
                path: path.to_owned(),
                // Cedar's `like` and `Pattern::matches` agree (tested); should they
                // not, the forbid still refuses.
                owner: rules::owner(claims, path)
                    .map_or_else(|| "another".to_owned(), ToString::to_string),
            },
            Rule::Malformed => Refusal::MalformedPath {
                path: path.to_owned(),
                problem: path_problem(path).unwrap_or("is malformed").to_owned(),
            },
            Rule::NoChanges => Refusal::NoChanges,
            Rule::DiffSize => Refusal::DiffTooLarge {
                lines: facts.diff_lines,
                limit: limits.limits.max_diff_lines,
            },
            Rule::Attempts => Refusal::AttemptsExhausted {
                attempt: facts.attempt,
                limit: limits.limits.max_attempts,
            },
            Rule::HourlyBudget => Refusal::HourlyBudgetSpent {
                calls: facts.agent_calls_last_hour,
                limit: limits.agent_budget.calls_per_hour,
            },
            Rule::DailyBudget => Refusal::DailyBudgetSpent {
                calls: facts.agent_calls_last_day,
                limit: limits.agent_budget.calls_per_day,
            },
            Rule::HighBand => Refusal::NotHighBand { band: facts.band },
            Rule::GreenGates => Refusal::GatesFailed {
                gates: facts.failed_gates.clone(),
            },
            Rule::Replay => Refusal::ReplayNotPassed {
                replay: facts.replay,
            },
            Rule::AutoMergeOff => Refusal::AutoMergeOff,
            Rule::User { label, reason } => Refusal::UserRule {
                id: label.clone(),
                reason: reason.clone(),
            },
        })
    }
}

fn uid(kind: &str, id: &str) -> EntityUid {
    // The type names are ours and constant; parsing cannot fail for them.
    let name = EntityTypeName::from_str(&format!("{NS}::{kind}"))
        .unwrap_or_else(|err| panic!("entity type {NS}::{kind}: {err}"));
    EntityUid::from_type_name_and_id(name, EntityId::new(id))
}
